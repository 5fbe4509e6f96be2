import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';
import { ClosedError, MisalignedReplyError, RedisUnavailableError } from '../errors';
import { ClientCommands } from './client-commands';
import { Deadlines, withDeadline } from './deadline';
import { limitRepeats } from './error-limit';
import { describeReply, replacingSocket, retryDelay, type Tenure } from './renewal';
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
 *   v4 and v5/v6 clients take the same path (the commands and replies are RESP, whatever the version);
 * - a node-redis 4 connection herdless made (the command connection it opens, the subscriber connection
 *   always) is never reconnected in place once it has been connected: node-redis 4 would misparse what
 *   comes back after a reply cut in its middle (renewal.ts). A new client takes its place;
 * - a reply that cannot be its command's (checks, and the scripts' `expect`) is refused with
 *   MisalignedReplyError: the connection's replies are misaligned. herdless' own connection is replaced at
 *   once; a client it was given is reported once per connection, and the envelopes' key hash keeps another
 *   key's value from being served (envelope.ts).
 */
export class StandaloneStore implements Store {
  onSubscriptionsLost: (resubscribe: boolean) => void = () => undefined;
  private client: RedisClient;
  private readonly owned: boolean;
  /** The options herdless opens its own client with (and every client that replaces it); undefined for a client it was given. */
  private readonly clientOptions: RedisClientOptions | undefined;
  /** The subscriber is replaced instead of reconnected: a node-redis 4 connection (renewal.ts). */
  private readonly renews: boolean;
  /** Commands are pending (Deadlines): a client that replaces the command connection starts ref'd. */
  private busy = false;
  /** Replacements since the command connection was last ready, and the subscriber's: the strategy's retry count. */
  private failures = 0;
  private subscriberFailures = 0;
  /** A replaced subscriber's successor connects no sooner than this (the strategy's delay). */
  private subscriberDueAt = 0;
  /** A misaligned reply on a client herdless was given has been reported since its latest 'ready'. */
  private misalignedReported = false;
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
    this.renews = kind !== 'v5-client';
    if (kind !== 'options') {
      this.client = redis as RedisClient;
      this.owned = false;
      this.clientOptions = undefined;
      this.deadlines = new Deadlines(options.timeoutMs, isErrorReply);
      this.attach(this.client);
    } else {
      this.owned = true;
      this.clientOptions = redis as RedisClientOptions;
      this.client = this.openClient();
      // An idle connection the cache owns does not keep the process alive (a script or a test suite that
      // never calls close() still exits); while a command is pending it does, so an awaited call finishes.
      this.deadlines = new Deadlines(options.timeoutMs, isErrorReply, (busy) => {
        this.busy = busy;
        if (busy) this.client.ref();
        else this.client.unref();
      });
    }
    this.holders = new ClientCommands(options.onError);
    this.failFast = this.client.isReady;
    if (this.client.isReady) this.onReady();
  }

  /** The command connection's events this store follows. */
  private attach(client: RedisClient): void {
    client.on('reconnecting', this.forgetConnection);
    client.on('end', this.forgetConnection);
    client.on('ready', this.onReady);
  }

  private detach(client: RedisClient): void {
    client.off('ready', this.onReady);
    client.off('reconnecting', this.forgetConnection);
    client.off('end', this.forgetConnection);
  }

  /**
   * A client of the cache's options. Once it has been connected it is replaced, not reconnected, when its
   * connection fails (renewal.ts): node-redis 4 would misparse the replies of the connection that came back.
   */
  private openClient(): RedisClient {
    const options = this.clientOptions!;
    const tenure: Tenure = { connected: false };
    const socket = replacingSocket(options.socket as object | undefined, tenure, () => this.failures, (delayMs) => this.replaceClient(client, delayMs));
    const client = createClient({ ...options, disableOfflineQueue: true, socket } as RedisClientOptions) as RedisClient;
    client.on('connect', () => (tenure.connected = true));
    client.on('error', this.connectionError);
    this.attach(client);
    if (!this.busy) client.unref();
    return client;
  }

  /**
   * Puts a new client in the place of `old` (its connection failed, or its replies are misaligned), and
   * connects it after `delayMs`. Calls meanwhile are answered without the cache, as while reconnecting.
   */
  private replaceClient(old: RedisClient, delayMs: number): void {
    if (this.closed || old !== this.client) return;
    this.failures++;
    this.detach(old);
    old.off('error', this.connectionError);
    old.on('error', () => undefined); // node-redis may still report the failure that closed it
    // Once node-redis is done with the failure: a closed client's disconnect() only stops its timers; an
    // open (misaligned) one's closes it, and fails the commands still waiting on it.
    queueMicrotask(() => void old.disconnect().catch(() => undefined));
    this.connection = '';
    this.loading = undefined;
    const fresh = this.openClient();
    this.client = fresh;
    const connect = () => {
      if (!this.closed && this.client === fresh && !fresh.isOpen) fresh.connect().catch(() => undefined); // its errors arrive as 'error' events
    };
    if (delayMs > 0) setTimeout(connect, delayMs).unref();
    else connect();
  }

  /**
   * A reply that cannot be `what`'s own (a GET answered by a number, a script by a string): the
   * connection's replies are misaligned, each handed to another command. herdless' own connection is
   * replaced at once; a client it was given is reported once per connection. Returns the caller's error.
   */
  private misaligned(what: string, reply: unknown): MisalignedReplyError {
    const error = new MisalignedReplyError(
      `Redis answered ${what} with ${describeReply(reply)}, which cannot be its reply: the connection's replies are misaligned ` +
        `(each handed to another command, as node-redis 4 does after a connection was cut inside a reply); ` +
        (this.owned
          ? 'herdless replaces the connection it opened'
          : 'nothing it answers is served as a value, but herdless cannot replace a client it was given: reconnect it (disconnect() and connect()) to recover'),
      what,
    );
    if (this.closed) return error;
    if (this.owned) {
      this.connectionError(error);
      const delay = retryDelay(this.clientOptions?.socket?.reconnectStrategy, this.failures, error);
      this.replaceClient(this.client, typeof delay === 'number' ? delay : 0);
    } else if (!this.misalignedReported) {
      this.misalignedReported = true;
      this.options.onError(error);
    }
    return error;
  }

  // What each command herdless sends can be answered with: anything else was another command's reply.
  private readonly checkGet = (reply: unknown) => (reply === null || Buffer.isBuffer(reply) ? undefined : this.misaligned('GET', reply));
  private readonly checkPttl = (reply: unknown) => (typeof reply === 'number' ? undefined : this.misaligned('PTTL', reply));
  private readonly checkPublish = (reply: unknown) => (typeof reply === 'number' ? undefined : this.misaligned('PUBLISH', reply));
  // CLIENT LIST: a bulk string (a verbatim one in RESP3, a string there); CLIENT ID: a number.
  private readonly checkClient = (reply: unknown) => (reply === null || Buffer.isBuffer(reply) || typeof reply === 'string' ? undefined : this.misaligned('CLIENT LIST', reply));

  private checkOf(command: string): ((reply: unknown) => Error | undefined) | undefined {
    switch (command) {
      case 'GET':
        return this.checkGet;
      case 'PTTL':
        return this.checkPttl;
      case 'PUBLISH':
        return this.checkPublish;
      case 'CLIENT':
        return this.checkClient;
      default:
        return undefined;
    }
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
    return this.deadlines.bound(this.send(args) as Promise<T>, args[0], undefined, this.checkOf(args[0]));
  }

  /** `late` receives a reply that arrived after the caller gave up, so it can undo what the script did. */
  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void, expect?: (reply: ScriptReply) => boolean): Promise<ScriptReply> {
    if (!this.client.isReady) return this.whenReady().then(() => this.run(script, keys, args, late, expect));
    const call = (this.loading ?? Promise.resolve()).then(() => evalScript(this.send, script, keys, args, undefined, this.options.onRefused));
    return this.deadlines.bound(call, script.name, late, expect && ((reply) => (expect(reply) ? undefined : this.misaligned(`the ${script.name} script`, reply))));
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
    this.subscriber ??= this.openSubscriber(0);
    return this.subscriber;
  }

  /** A subscriber connection, copied from the command connection's client; it connects after `delayMs`. */
  private openSubscriber(delayMs: number): RedisClient {
    const overrides: Partial<RedisClientOptions> = { disableOfflineQueue: false };
    const tenure: Tenure = { connected: false };
    // herdless' own connection, whoever made the client it copies: a node-redis 4 one is replaced, not
    // reconnected, once it has been connected (renewal.ts).
    if (this.renews) overrides.socket = replacingSocket(this.socketOptions(), tenure, () => this.subscriberFailures, (ms) => this.replaceSubscriber(subscriber, ms)) as RedisClientOptions['socket'];
    const subscriber = this.client.duplicate(overrides) as RedisClient;
    subscriber.on('connect', () => (tenure.connected = true));
    // Wake-ups sent while the subscriber is down are lost; node-redis subscribes again on reconnect.
    // (Its first 'ready' is no loss: subscriptions asked for before it are confirmed by then.)
    let connectedBefore = false;
    subscriber.on('error', (error) => {
      if (this.subscriber !== subscriber) return;
      this.connectionError(error);
      this.onSubscriptionsLost(false);
    });
    subscriber.on('ready', () => {
      if (this.subscriber !== subscriber) return;
      this.subscriberFailures = 0;
      if (connectedBefore) this.onSubscriptionsLost(false);
      connectedBefore = true;
    });
    // Waiters keep the process alive with their own timers; the subscription itself never does.
    subscriber.unref();
    const connect = () => {
      if (this.subscriber === subscriber && !this.closed) subscriber.connect().catch((error: unknown) => this.subscriber === subscriber && this.options.onError(error));
    };
    if (delayMs > 0) setTimeout(connect, delayMs).unref();
    else queueMicrotask(connect); // once it is this.subscriber
    return subscriber;
  }

  /** The socket options a subscriber copies: the cache's, or those of the node-redis 4 client it was given. */
  private socketOptions(): object | undefined {
    if (this.clientOptions) return this.clientOptions.socket as object | undefined;
    return (this.client as { options?: { socket?: object } }).options?.socket;
  }

  /**
   * The subscriber's connection failed once it had been up (its strategy closes it): a new one takes its
   * place after `delayMs`, with its subscriptions, which node-redis makes again as it connects, as it would
   * have on reconnecting. Wake-ups sent meanwhile are lost, as on any reconnection.
   */
  private replaceSubscriber(old: RedisClient, delayMs: number): void {
    if (this.subscriber !== old || this.closed) return;
    this.subscriberFailures++;
    const fresh = this.openSubscriber(delayMs);
    this.subscriber = fresh;
    const carried = carryListeners(old, fresh);
    queueMicrotask(() => void old.disconnect().catch(() => undefined));
    // Without node-redis 4's listener maps (a shape this code does not know), subscribers subscribe again.
    this.onSubscriptionsLost(!carried);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.detach(this.client);
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
    this.failures = 0;
    this.misalignedReported = false;
    this.connection = '';
    const client = this.client;
    // CLIENT ID answers a number; anything else is another command's reply (the id would name no connection).
    const id = (args: ScriptArg[]) => this.send(args).then((reply) => (typeof reply === 'number' || client !== this.client ? reply : Promise.reject(this.misaligned('CLIENT ID', reply))));
    void this.holders.id(id).then((id) => {
      if (this.client === client && client.isReady) this.connection = id;
    });
    // SCRIPT LOAD answers the script's SHA1: the first replies on a connection that came back misaligned
    // are these, so this is where it shows first.
    const load = (s: Script) =>
      this.send(['SCRIPT', 'LOAD', s.source]).then((sha) => {
        if (String(sha) !== s.sha && client === this.client) this.misaligned('SCRIPT LOAD', sha);
      });
    const loading = Promise.all(this.options.scripts.map(load))
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
      const client = this.client;
      this.firstReady = new Promise<void>((resolve, reject) => {
        const ready = () => {
          client.off('error', failed);
          resolve();
        };
        const failed = (error: unknown) => {
          client.off('ready', ready);
          reject(error);
        };
        client.once('ready', ready);
        client.once('error', failed);
      });
      if (!this.client.isOpen) this.client.connect().catch(() => undefined); // its errors arrive as 'error' events
    }
    return withDeadline(this.firstReady, this.options.timeoutMs, 'connecting to Redis').catch((error) => {
      this.failFast = true;
      throw new RedisUnavailableError(`could not connect to Redis: ${reason(error)}`, error);
    });
  }
}

// node-redis 4's kinds of subscription (client/pub-sub.js, PubSubType).
const PUB_SUB_TYPES = ['CHANNELS', 'PATTERNS', 'SHARDED'];

/**
 * Moves `from`'s subscriptions (its listeners, by channel) to `to`, which subscribes to them once it
 * connects: what node-redis 4 does for a cluster's moved pub/sub node (getPubSubListeners,
 * extendPubSubListeners). False, with nothing moved, when either client lacks those methods.
 */
function carryListeners(from: RedisClient, to: RedisClient): boolean {
  const source = from as unknown as { getPubSubListeners?: (type: string) => unknown };
  const target = to as unknown as { extendPubSubListeners?: (type: string, listeners: unknown) => Promise<unknown> };
  if (typeof source.getPubSubListeners !== 'function' || typeof target.extendPubSubListeners !== 'function') return false;
  const moving: [string, Map<string, unknown>][] = [];
  for (const type of PUB_SUB_TYPES) {
    const listeners = source.getPubSubListeners(type);
    if (!(listeners instanceof Map)) return false;
    if (listeners.size > 0) moving.push([type, listeners]);
  }
  // Confirmed, or failed, with the new connection: its own events report that.
  for (const [type, listeners] of moving) void Promise.resolve(target.extendPubSubListeners(type, listeners)).catch(() => undefined);
  return true;
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
