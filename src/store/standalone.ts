import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';
import { ClosedError, RedisUnavailableError } from '../errors';
import { ClientCommands } from './client-commands';
import { Deadlines, withDeadline } from './deadline';
import { limitRepeats } from './error-limit';
import type { Script } from './script';
import { evalScript, isErrorReply, type Listener, type ScriptArg, type ScriptReply, type Send, type Store, type StoreOptions } from './store';

/** Any node-redis v4 client (createClient from redis@4), whatever modules or scripts its owner configured. */
export type RedisClient = RedisClientType<any, any, any>;

/**
 * A node-redis v5 or v6 client (createClient from redis@5 or redis@6), described by what herdless uses of it.
 * Its commands return strings unless told otherwise, and its ErrorReply is a class of its own; herdless
 * sends every command through sendCommand with a type mapping that returns Buffers.
 */
export interface ModernRedisClient {
  /** A view of the client whose replies come back in the given types (herdless asks for Buffers). */
  withTypeMapping(mapping: any): unknown;
  /** Sends one command as its arguments; every command herdless sends goes through here. */
  sendCommand(args: any, options?: any): Promise<unknown>;
  /** A new connection with the same options, for subscriptions (a subscribed connection sends no commands). */
  duplicate(overrides?: any): unknown;
  /** Opens the connection; herdless calls it when the client is not open yet. */
  connect(): Promise<unknown>;
  /** True from connect() until the client is closed, reconnecting included. */
  readonly isOpen: boolean;
  /** True while the connection is up and ready for commands. */
  readonly isReady: boolean;
}

// How each major version is asked for Buffers instead of strings ('$' = 36 is RESP's blob string).
const V4_BUFFERS = { returnBuffers: true };
const V5_BUFFERS = { typeMapping: { 36: Buffer } };

/**
 * The one place that talks to Redis. Invariants:
 * - a caller never waits longer than `timeoutMs` for a reply, and never sits in a reconnecting client's
 *   offline queue: once the connection has been up, a down connection fails the call at once;
 * - only the first connection attempt is waited for (bounded), so the first call needs no explicit connect;
 * - scripts are loaded on every 'ready', and a NOSCRIPT (after SCRIPT FLUSH, a restart, a failover) is
 *   answered by resending the script with EVAL, which also caches it again;
 * - every command goes through sendCommand with the client's own way of asking for Buffers, so node-redis
 *   v4 and v5/v6 clients take the same path (the commands and replies are RESP, whatever the version).
 */
export class StandaloneStore implements Store {
  onSubscriptionsLost: (resubscribe: boolean) => void = () => undefined;
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
  private readonly buffers: object;
  /** CLIENT ID of the command connection; '' until known, and again from a reconnection until it is. */
  private connection = '';
  private readonly holders: ClientCommands;

  /** `kind`: what `redis` is (clientKind): client options herdless opens a v4 client with, or a v4 or v5/v6 client. */
  constructor(redis: RedisClient | ModernRedisClient | RedisClientOptions, private readonly options: StoreOptions, kind: 'options' | 'v4-client' | 'v5-client') {
    this.buffers = kind === 'v5-client' ? V5_BUFFERS : V4_BUFFERS;
    if (kind !== 'options') {
      this.client = redis as RedisClient;
      this.owned = false;
      this.deadlines = new Deadlines(options.timeoutMs, isErrorReply);
    } else {
      this.client = createClient({ ...(redis as RedisClientOptions), disableOfflineQueue: true }) as RedisClient;
      this.owned = true;
      this.client.on('error', this.connectionError);
      // An idle connection the cache owns does not keep the process alive (a script or a test suite that
      // never calls close() still exits); while a command is pending it does, so an awaited call finishes.
      const client = this.client;
      client.unref();
      this.deadlines = new Deadlines(options.timeoutMs, isErrorReply, (busy) => (busy ? client.ref() : client.unref()));
    }
    this.holders = new ClientCommands(options.onError);
    this.failFast = this.client.isReady;
    this.client.on('reconnecting', this.forgetConnection);
    this.client.on('end', this.forgetConnection);
    this.client.on('ready', this.onReady);
    if (this.client.isReady) this.onReady();
  }

  get(key: string): Promise<Buffer | null> {
    return this.command(['GET', key]);
  }

  publish(channel: string, message: string): Promise<unknown> {
    return this.command(['PUBLISH', channel, message]);
  }

  pttl(key: string): Promise<number> {
    return this.command(['PTTL', key]);
  }

  connectionId(): string {
    return this.connection;
  }

  alive(_key: string, id: string): Promise<boolean | undefined> {
    return this.holders.alive(id, (args) => this.command(args));
  }

  /** One command, bounded like every command; while the connection is not ready, after it is. */
  private command<T>(args: string[]): Promise<T> {
    if (!this.client.isReady) return this.whenReady().then(() => this.command<T>(args));
    return this.deadlines.bound(this.send(args) as Promise<T>, args[0]);
  }

  /** `late` receives a reply that arrived after the caller gave up, so it can undo what the script did. */
  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void): Promise<ScriptReply> {
    if (!this.client.isReady) return this.whenReady().then(() => this.run(script, keys, args, late));
    const call = (this.loading ?? Promise.resolve()).then(() => evalScript(this.send, script, keys, args));
    return this.deadlines.bound(call, script.name, late);
  }

  async subscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.pubSub()).subscribe(channel, listener, true);
  }

  /** One server: a wake-up subscription is a classic one. */
  listen(channel: string, listener: Listener): Promise<void> {
    return this.subscribe(channel, listener);
  }

  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    await this.subscriber?.unsubscribe(channel, listener, true);
  }

  private readonly send: Send = (args) => (this.client.sendCommand as (args: ScriptArg[], options: object) => Promise<unknown>)(args, this.buffers);

  /** A dedicated pub/sub connection, created on first use and owned by this store. */
  private async pubSub(): Promise<RedisClient> {
    if (this.closed) throw new ClosedError();
    if (!this.subscriber) {
      const subscriber = this.client.duplicate({ disableOfflineQueue: false }) as RedisClient;
      // Wake-ups sent while the subscriber is down are lost; node-redis subscribes again on reconnect.
      // (Its first 'ready' is no loss: subscriptions asked for before it are confirmed by then.)
      let connectedBefore = false;
      subscriber.on('error', (error) => {
        this.connectionError(error);
        this.onSubscriptionsLost(false);
      });
      subscriber.on('ready', () => {
        if (connectedBefore) this.onSubscriptionsLost(false);
        connectedBefore = true;
      });
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
    this.client.off('reconnecting', this.forgetConnection);
    this.client.off('end', this.forgetConnection);
    const closing: Promise<unknown>[] = [];
    if (this.subscriber) closing.push(shut(this.subscriber));
    if (this.owned) closing.push(shut(this.client));
    await Promise.all(closing);
  }

  private readonly forgetConnection = (): void => {
    this.connection = '';
  };

  private readonly onReady = (): void => {
    this.failFast = true;
    this.connection = '';
    void this.holders.id(this.send).then((id) => {
      if (this.client.isReady) this.connection = id;
    });
    const loading = Promise.all(this.options.scripts.map((s) => this.send(['SCRIPT', 'LOAD', s.source])))
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


// QUIT waits for its reply; a connection to a node that died (a cluster's, reconnecting for ever) never
// gives one, so after this long the connection is dropped instead.
const QUIT_MS = 1_000;

/** Closes a client or cluster: QUIT, bounded, then disconnect. Never rejects. */
export async function shut(client: { isReady?: boolean; isOpen: boolean; quit(): Promise<unknown>; disconnect(): Promise<unknown> }): Promise<void> {
  try {
    if (client.isReady ?? client.isOpen) await withDeadline(client.quit(), QUIT_MS, 'QUIT');
    else if (client.isOpen) await client.disconnect();
  } catch {
    await client.disconnect().catch(() => undefined);
  }
}
