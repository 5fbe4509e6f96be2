/**
 * Why a node-redis 4 connection herdless opens is replaced instead of reconnected.
 *
 * node-redis 4.7.1 (@redis/client 1.6.1) keeps a cut reply's parse state across a reconnection: when a
 * connection fails, the client calls RESP2Decoder.reset(), which clears the reply's type but not
 * bulkStringRemainingLength, a partial integer or the arrays in progress. The connection that comes back
 * reads its first replies as the rest of the cut one: from then on each reply is handed to another
 * command (a GET gets another key's value), or none is parsed again (the connection stays up, answering
 * nothing). The decoder lives in a private field of the client's command queue (a module-private
 * WeakMap): resetting it fully would mean patching RESP2Decoder for the whole process, the application's
 * own clients included. So herdless never lets node-redis reconnect, in place, a v4 client herdless made
 * once that client has been connected (bytes may have been parsed on it): its reconnect strategy closes
 * that client instead, and a new client, with a new decoder, takes its place after the delay the
 * strategy would have waited. Before a client's first connection nothing has been read, and node-redis
 * retries as it always does. (node-redis 5 and 6 reset their decoder fully: their clients are left alone.)
 */

/** A reconnect strategy, as node-redis 4 takes it in `socket.reconnectStrategy`. */
type Strategy = false | number | ((retries: number, cause: Error) => unknown) | undefined;

/** What node-redis 4 makes of `strategy` (client/socket.js, #reconnectStrategy): a delay in ms, or false / an Error to give up. */
export function retryDelay(strategy: unknown, retries: number, cause: Error): number | false | Error {
  const given = strategy as Strategy;
  if (given === false) return false;
  if (typeof given === 'number') return given;
  if (typeof given === 'function') {
    try {
      const delay = given(retries, cause);
      if (delay === false || delay instanceof Error || typeof delay === 'number') return delay;
    } catch {
      // node-redis reports a throwing strategy and falls back to its default, as here
    }
  }
  return Math.min(retries * 50, 500);
}

/** One client's connection history, as its replacing strategy needs it. */
export interface Tenure {
  /** Set at the client's 'connect': from then on its decoder may hold a cut reply's state. */
  connected: boolean;
}

/**
 * `socket` (a client's socket options) with a reconnect strategy that follows `given` (the user's, or
 * node-redis' default) until the client has connected (`tenure`), and from then on closes the client
 * and calls `replace(delay)` instead of reconnecting it. `earlier`: failures already counted against
 * this connection (replacements since the last 'ready'), added to node-redis' count so a server that
 * keeps dropping connections is retried with the strategy's growing delays, not at once.
 */
export function replacingSocket<S extends object>(
  socket: S | undefined,
  tenure: Tenure,
  earlier: () => number,
  replace: (delayMs: number, cause: Error) => void,
): S & { reconnectStrategy: (retries: number, cause: Error) => number | false | Error } {
  const given = (socket as { reconnectStrategy?: unknown } | undefined)?.reconnectStrategy;
  const reconnectStrategy = (retries: number, cause: Error): number | false | Error => {
    const delay = retryDelay(given, retries + earlier(), cause);
    // The user's strategy gives up: the client closes for good, as it would without herdless.
    if (typeof delay !== 'number' || !tenure.connected) return delay;
    replace(delay, cause);
    return false;
  };
  return { ...(socket as S), reconnectStrategy };
}

/** A reply, described for an error message (never its bytes: they may be anyone's data). */
export function describeReply(reply: unknown): string {
  if (reply === null || reply === undefined) return 'nil';
  if (typeof reply === 'number') return `the number ${reply}`;
  if (Buffer.isBuffer(reply)) return `a string of ${reply.length} bytes`;
  if (typeof reply === 'string') return `a string of ${Buffer.byteLength(reply)} bytes`;
  if (Array.isArray(reply)) return `an array of ${reply.length}`;
  return `a ${typeof reply}`;
}
