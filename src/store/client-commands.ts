import { HerdlessError } from '../errors';
import { isErrorReply, type ScriptArg } from './store';

/** What CLIENT ID answers: a whole number (up to 2^64 - 1). */
const CLIENT_ID = /^\d{1,20}$/;

/**
 * Only these error replies mean the server refuses the command itself: an ACL (NOPERM), or a command
 * renamed away or not offered (a managed Redis). Any other error reply (an id Redis finds invalid, a
 * server out of memory) is about this one question: it is answered "unknown" without turning the fast
 * takeover off for the cache's lifetime.
 */
function refusal(error: unknown): boolean {
  return isErrorReply(error) && /^(NOPERM\b|ERR unknown (sub)?command\b)/i.test(String((error as Error).message));
}

/**
 * The CLIENT commands behind a fast takeover (lease/scripts.ts, "Holder"): a lease records its holder's
 * connection id, and a waiter asks whether that connection is still open. Invariants:
 * - neither ever fails a call: an id that cannot be had is '' (the lease records none), a question that
 *   cannot be answered is undefined (the waiter waits out the lease's TTL, as it always could);
 * - a server that refuses them (an ACL, a managed Redis restricting CLIENT) is reported once, on the
 *   'error' event, naming what was refused; after that neither is sent again.
 */
export class ClientCommands {
  private refused = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** CLIENT ID over `send`, the connection's own. */
  async id(send: (args: ScriptArg[]) => Promise<unknown>): Promise<string> {
    if (this.refused) return '';
    try {
      return String(await send(['CLIENT', 'ID']));
    } catch (error) {
      if (refusal(error)) this.refuse('CLIENT ID', error);
      return '';
    }
  }

  /** Is connection `id` open on the server `command` goes to? */
  async alive(id: string, command: (args: string[]) => Promise<unknown>): Promise<boolean | undefined> {
    // A lease herdless did not write may name anything; Redis answers "ERR Invalid client ID" to what is
    // not a number. Not asked: the holder is unknown, and its waiters wait out its lease's TTL.
    if (this.refused || !CLIENT_ID.test(id)) return undefined;
    try {
      const reply = (await command(['CLIENT', 'LIST', 'ID', id])) as Buffer | string | null;
      return reply !== null && reply.length > 0;
    } catch (error) {
      if (refusal(error)) this.refuse('CLIENT LIST ID', error);
      return undefined;
    }
  }

  private refuse(command: string, error: unknown): void {
    if (this.refused) return;
    this.refused = true;
    this.onError(
      new HerdlessError(
        'ERR_HERDLESS_CLIENT_REFUSED',
        `herdless: Redis refused ${command} (${(error as Error).message}); a waiter now replaces a crashed lease holder when its lease expires (lease.ttl), ` +
          `not within milliseconds of the crash. Allow 'client|id' and 'client|list' to the cache's Redis user for the fast takeover`,
        { cause: error },
      ),
    );
  }
}
