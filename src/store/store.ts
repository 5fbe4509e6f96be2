import { commandOptions, ErrorReply } from 'redis';
import { RedisRefusedError, refusalText } from '../errors';
import { REFUSED, type Script } from './script';

export type ScriptReply = null | number | Buffer | ScriptReply[];
export type ScriptArg = string | Buffer;
export type Listener = (message: Buffer) => void;

export interface StoreOptions {
  /** The longest one command may take before the caller answers without the cache. */
  timeoutMs: number;
  /** Loaded with SCRIPT LOAD whenever a connection (every master, in a cluster) becomes ready. */
  scripts: readonly Script[];
  onError(error: unknown): void;
  /** A publish the ACL refused inside a script (evalScript); already rate-limited (open.ts). */
  onRefused?(error: unknown): void;
}

/**
 * What the cache needs from Redis, standalone or cluster. Every call is bounded by `timeoutMs` and never
 * waits in a reconnecting client's offline queue; `late` receives a script reply that arrived after the
 * caller gave up, so the caller can undo what the script did.
 */
export interface Store {
  get(key: string): Promise<Buffer | null>;
  /** PTTL: the key's time to live in ms; -2 when it does not exist, -1 when it has no expiry. */
  pttl(key: string): Promise<number>;
  /**
   * `expect`: whether a reply has the script's shape; one that does not was handed to it from another
   * command (the connection's replies are misaligned): the call rejects with MisalignedReplyError, and the
   * connection is replaced (one herdless opened) or reported (yours).
   */
  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void, expect?: (reply: ScriptReply) => boolean): Promise<ScriptReply>;
  /** Classic PUBLISH on the connection commands use: every node of a cluster forwards it. */
  publish(channel: string, message: string): Promise<unknown>;
  /** A wake-up subscription (sharded in a cluster); resolves once the server confirmed it. */
  subscribe(channel: string, listener: Listener): Promise<void>;
  /** A classic subscription, which hears what PUBLISH sent to any node; resolves once the server confirmed it. */
  listen(channel: string, listener: Listener): Promise<void>;
  unsubscribe(channel: string, listener: Listener): Promise<void>;
  /**
   * The id (CLIENT ID) of the connection scripts on `key` run on, which a lease records so that waiters can
   * tell a dead holder at once; '' while unknown (connecting, or the server refuses CLIENT).
   */
  connectionId(key: string): string;
  /**
   * Whether connection `id` is still open on the node holding `key` (CLIENT LIST ID); undefined when the
   * server refuses the command (a waiter then waits out the lease's TTL, as before).
   */
  alive(key: string, id: string): Promise<boolean | undefined>;
  close(): Promise<void>;
  /**
   * Set by the cache: called when wake-ups may have been lost (the subscriber connection dropped or came
   * back, a cluster topology changed). `resubscribe`: existing subscriptions are gone and must be made again.
   */
  onSubscriptionsLost: (resubscribe: boolean) => void;
}

// Spelt out from what 'redis' exports: an inferred type would name a file deep inside @redis/client,
// a package herdless does not depend on, in the published declarations.
export const BUFFERS: ReturnType<typeof commandOptions<{ returnBuffers: true }>> = commandOptions({ returnBuffers: true });

/** Sends one raw command (Buffers are sent as they are, binary-safe) and answers Buffers. */
export type Send = (args: ScriptArg[]) => Promise<unknown>;

/**
 * EVALSHA, and on NOSCRIPT (after SCRIPT FLUSH, a restart, a failover to a node that never saw the
 * script) the same script again with EVAL, which also puts it back in the server's script cache.
 * `onRefused` hears of a publish the ACL refused inside the script (script.ts, PUBLISHES), which the
 * script's own reply does not show: the caller gets the reply as if it had been sent.
 */
export function evalScript(send: Send, script: Script, keys: string[], args: ScriptArg[], onNoScript?: () => void, onRefused?: (error: unknown) => void): Promise<ScriptReply> {
  const count = String(keys.length);
  return (send(['EVALSHA', script.sha, count, ...keys, ...args]) as Promise<ScriptReply>)
    .catch((error: unknown) => {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      onNoScript?.();
      return send(['EVAL', script.source, count, ...keys, ...args]) as Promise<ScriptReply>;
    })
    .then((reply) => (isRefusedPublish(reply) ? unmark(reply, script, onRefused) : reply));
}

/** A reply PUBLISHES marked: {REFUSED, the reply, the command, Redis' error}. */
function isRefusedPublish(reply: ScriptReply): reply is ScriptReply[] {
  return Array.isArray(reply) && reply.length === 4 && Buffer.isBuffer(reply[0]) && reply[0].toString() === REFUSED;
}

function unmark(reply: ScriptReply[], script: Script, onRefused: ((error: unknown) => void) | undefined): ScriptReply {
  const command = String(reply[2]);
  // SPUBLISH carries wake-ups only; PUBLISH also the namespace's invalidations (lease/scripts.ts).
  const lost = command === 'SPUBLISH' ? "the key's waiters wait out lease.ttl instead of being woken" : "the key's waiters may wait out lease.ttl instead of being woken, and other processes may not hear of the write";
  onRefused?.(
    new RedisRefusedError(`${refusalText(command, String(reply[3]), ` inside herdless' ${script.name} script`)}. The script's write landed, but not its ${command}: ${lost}`, undefined, command.toLowerCase()),
  );
  return reply[1];
}

// Error replies that mean "not now" (a cluster moving slots or failing over, a server loading or busy):
// the same command can succeed later.
const TRANSIENT = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN|LOADING|BUSY|MASTERDOWN|READONLY|NOREPLICAS)\b/;

/** Redis answered the command with an error that repeating it will not change (OOM, a value over its limits). */
export function isRefusal(error: unknown): boolean {
  return isErrorReply(error) && !TRANSIENT.test((error as Error).message);
}

/**
 * An error reply from the server, as opposed to a connection failure or a timeout. node-redis v5/v6 have
 * an ErrorReply class of their own, so it is recognised by name along the prototype chain too.
 */
export function isErrorReply(error: unknown): boolean {
  if (error instanceof ErrorReply) return true;
  for (let proto = error !== null && typeof error === 'object' ? Object.getPrototypeOf(error) : null; proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === 'ErrorReply') return true;
  }
  return false;
}
