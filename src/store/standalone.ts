import { createClient, ErrorReply, type RedisClientOptions, type RedisClientType } from 'redis';
import { ClosedError, RedisUnavailableError } from '../errors';
import { Deadlines, withDeadline } from './deadline';
import { limitRepeats } from './error-limit';
import type { Script } from './script';
import { BUFFERS, evalScript, type Listener, type ScriptArg, type ScriptReply, type Store, type StoreOptions } from './store';

// Any node-redis v4 client, whatever modules or scripts its owner configured.
export type RedisClient = RedisClientType<any, any, any>;

/**
 * The one place that talks to Redis. Invariants:
 * - a caller never waits longer than `timeoutMs` for a reply, and never sits in a reconnecting client's
 *   offline queue: once the connection has been up, a down connection fails the call at once;
 * - only the first connection attempt is waited for (bounded), so the first call needs no explicit connect;
 * - scripts are loaded on every 'ready', and a NOSCRIPT (after SCRIPT FLUSH, a restart, a failover) is
 *   answered by resending the script with EVAL, which also caches it again.
 */
export class StandaloneStore implements Store {
  private readonly client: RedisClient;
  private readonly owned: boolean;
  // Set once the connection has been up, or the first connection attempt ran out of time: from then
  // on a down connection fails calls at once instead of making each one wait.
  private failFast: boolean;
  private loading: Promise<void> | undefined;
  private firstReady: Promise<void> | undefined;
  private subscriber: RedisClient | undefined;
  private closed = false;
  private readonly deadlines: Deadlines;
  private readonly connectionError = limitRepeats((error) => this.options.onError(error));

  constructor(redis: RedisClient | RedisClientOptions, private readonly options: StoreOptions) {
    if (isClient(redis)) {
      this.client = redis;
      this.owned = false;
      this.deadlines = new Deadlines(options.timeoutMs, (error) => error instanceof ErrorReply);
    } else {
      this.client = createClient({ ...redis, disableOfflineQueue: true }) as RedisClient;
      this.owned = true;
      this.client.on('error', this.connectionError);
      // An idle connection the cache owns does not keep the process alive (a script or a test suite that
      // never calls close() still exits); while a command is pending it does, so an awaited call finishes.
      const client = this.client;
      client.unref();
      this.deadlines = new Deadlines(options.timeoutMs, (error) => error instanceof ErrorReply, (busy) => (busy ? client.ref() : client.unref()));
    }
    this.failFast = this.client.isReady;
    this.client.on('ready', this.onReady);
    if (this.client.isReady) this.onReady();
  }

  get(key: string): Promise<Buffer | null> {
    if (!this.client.isReady) return this.whenReady().then(() => this.get(key));
    return this.deadlines.bound(this.client.get(BUFFERS, key), 'GET');
  }

  /** `late` receives a reply that arrived after the caller gave up, so it can undo what the script did. */
  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void): Promise<ScriptReply> {
    if (!this.client.isReady) return this.whenReady().then(() => this.run(script, keys, args, late));
    const call = (this.loading ?? Promise.resolve()).then(() => evalScript(this.client, script, keys, args));
    return this.deadlines.bound(call, script.name, late);
  }

  async subscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.pubSub()).subscribe(channel, listener, true);
  }

  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    await this.subscriber?.unsubscribe(channel, listener, true);
  }

  /** A dedicated pub/sub connection, created on first use and owned by this store. */
  private async pubSub(): Promise<RedisClient> {
    if (this.closed) throw new ClosedError();
    if (!this.subscriber) {
      const subscriber = this.client.duplicate({ disableOfflineQueue: false }) as RedisClient;
      subscriber.on('error', this.connectionError);
      // Waiters keep the process alive with their own timers; the subscription itself never does.
      subscriber.unref();
      this.subscriber = subscriber;
      subscriber.connect().catch(this.options.onError);
    }
    return this.subscriber;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.off('ready', this.onReady);
    const closing: Promise<unknown>[] = [];
    if (this.subscriber) closing.push(shut(this.subscriber));
    if (this.owned) closing.push(shut(this.client));
    await Promise.all(closing);
  }

  private readonly onReady = (): void => {
    this.failFast = true;
    const loading = Promise.all(this.options.scripts.map((s) => this.client.scriptLoad(s.source)))
      .then(() => undefined, this.options.onError)
      .finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    this.loading = loading;
  };

  private whenReady(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    if (this.failFast) return Promise.reject(new RedisUnavailableError('the Redis connection is down; answering without the cache'));
    if (!this.firstReady) {
      // The first connection attempt ends at 'ready' or at its first error: a refused connection is an
      // answer, so the calls waiting for it fail at once with the real cause instead of a timeout.
      this.firstReady = new Promise<void>((resolve, reject) => {
        const ready = () => {
          this.client.off('error', failed);
          resolve();
        };
        const failed = (error: unknown) => {
          this.client.off('ready', ready);
          reject(error);
        };
        this.client.once('ready', ready);
        this.client.once('error', failed);
      });
      if (!this.client.isOpen) this.client.connect().catch(() => undefined); // its errors arrive as 'error' events
    }
    return withDeadline(this.firstReady, this.options.timeoutMs, 'connecting to Redis').catch((error) => {
      this.failFast = true;
      throw new RedisUnavailableError(`could not connect to Redis: ${reason(error)}`, error);
    });
  }
}

/** An error's message, or its code when it has none (an AggregateError of refused addresses). */
function reason(error: unknown): string {
  const { message, code, errors } = (error ?? {}) as { message?: string; code?: string; errors?: unknown[] };
  if (message) return message;
  if (code) return code;
  if (Array.isArray(errors) && errors.length > 0) return errors.map(reason).join('; ');
  return String(error);
}

export function isClient(value: unknown): value is RedisClient {
  return typeof (value as RedisClient)?.sendCommand === 'function' && typeof (value as RedisClient)?.duplicate === 'function';
}

export async function shut(client: { isReady?: boolean; isOpen: boolean; quit(): Promise<unknown>; disconnect(): Promise<unknown> }): Promise<void> {
  try {
    if (client.isReady ?? client.isOpen) await client.quit();
    else if (client.isOpen) await client.disconnect();
  } catch {
    await client.disconnect().catch(() => undefined);
  }
}
