import { createCluster, ErrorReply, type RedisClusterOptions, type RedisClusterType } from 'redis';
import { ClosedError, MisalignedReplyError, RedisUnavailableError } from '../errors';
import { ClientCommands } from './client-commands';
import { Deadlines, withDeadline } from './deadline';
import { clientKind } from './client-kind';
import { limitRepeats } from './error-limit';
import { describeReply } from './renewal';
import type { Script } from './script';
import { slotOf } from './slot';
import { shut } from './standalone';
import { BUFFERS, evalScript, type Listener, type ScriptArg, type ScriptReply, type Store, type StoreOptions } from './store';

/** Any node-redis v4 cluster (createCluster from redis@4), whatever modules or scripts its owner configured. */
export type RedisCluster = RedisClusterType<any, any, any>;

// Don't poke the topology more often than this while a failover is under way.
const REFRESH_INTERVAL_MS = 250;
// Don't replace a failing subscriber connection more often than this.
const RESUBSCRIBE_MS = 1_000;
// Until the cluster is first discovered, connect() is retried after 100 ms, 200, 400, ... doubling up to
// 3 s, each pause scaled by a random factor in [0.5, 1) so a fleet booting together does not retry in step.
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 3_000;
// The longest one connect() attempt may take (at least; 4 x commandTimeout when that is longer).
const CONNECT_ATTEMPT_MIN_MS = 2_000;

/**
 * Redis Cluster. Every key of one call shares a hash tag, so each GET and script goes to the master of
 * that slot (node-redis routes a script by its first key). Invariants beyond the standalone store's:
 * - until the cluster is first discovered (open, with a master), calls are answered without the cache at
 *   once (the first call waits up to `timeoutMs` for the first attempt), and a background loop retries
 *   connect() with the backoff above until discovery succeeds; it stops on close() and never rejects
 *   unhandled. A cluster the user passes in is connected by herdless too when it is not open (a connect()
 *   of the user's that overlaps an attempt rejects with 'Cluster already open'). One that herdless' own
 *   connect() opened is closed and opened again while its nodes answer with no slots (up, but the cluster
 *   not yet formed); one the user opened is only checked again, never closed by herdless;
 * - a key whose slot has no master in node-redis' map (discovered mid-formation) is answered without the
 *   cache and starts a refresh;
 * - values are read from the slot's master even when the cluster uses replicas (`useReplicas`): a replica
 *   may not have the write or delete this process just made;
 * - scripts are loaded on every master after the first discovery and after every topology change;
 * - node-redis v4 refreshes its slot map only when a node answers MOVED or ASK, so after a master dies it
 *   would keep sending that slot's commands to the dead address. On a connection failure or CLUSTERDOWN
 *   this store sends a harmless EXISTS for the key to the other masters until one answers MOVED, which
 *   makes node-redis rediscover the topology; the failed calls are answered without the cache meanwhile;
 * - wake-ups use sharded pub/sub, and the memory tier's invalidations classic pub/sub (PUBLISH reaches
 *   every node), on a separate cluster connection; when the topology changes or that connection fails,
 *   it is replaced and subscribers are told to subscribe again (waiters poll, the tier bypasses itself);
 * - a reply that cannot be its command's (a GET answered by a number, a script by another shape, SCRIPT
 *   LOAD by anything but the SHA) is refused with MisalignedReplyError: that master's connection hands
 *   replies to the wrong commands (node-redis 4 after a connection cut inside a reply, renewal.ts). node-redis'
 *   cluster keeps its node connections to itself, so one herdless opened is closed and discovered afresh
 *   (at most once per RESUBSCRIBE_MS); one the user passed in is reported once per master connection. The
 *   envelopes' key hash keeps another key's value from being served either way (envelope.ts).
 */
/** A master's own connection, as the cluster hands it out. */
type NodeClient = Awaited<ReturnType<RedisCluster['nodeClient']>>;

export class ClusterStore implements Store {
  /** Called when existing subscriptions may have been lost and should be made again. */
  onSubscriptionsLost: (resubscribe: boolean) => void = () => undefined;
  private readonly cluster: RedisCluster;
  private readonly owned: boolean;
  // Set once the cluster has been discovered; from then on calls go to it (node-redis reconnects nodes).
  private ready = false;
  // Set once a call waited for the first attempt: later calls before discovery are answered at once.
  private failFast = false;
  // The reconnect loop, from the first call until discovery; and what its first attempt failed with.
  private discovery: Promise<void> | undefined;
  private firstAttempt: Promise<unknown> | undefined;
  // Ends the loop's pause between attempts (on close).
  private wake: (() => void) | undefined;
  // herdless' own connect() opened the cluster, so herdless may close and reopen it.
  private openedHere = false;
  private loading: Promise<void> | undefined;
  private loadedMasters = '';
  private subscriber: Promise<RedisCluster> | undefined;
  private subscriberReplacedAt = 0;
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;
  private closed = false;
  // One per master: a quiet master must not be hidden by the answers of the others.
  private readonly deadlines = new Map<string, Deadlines>();
  // CLIENT ID of the connection to each master, by address: '' while asked for; dropped when it reconnects.
  private readonly connectionIds = new Map<string, string>();
  private holders!: ClientCommands;
  // Masters whose misaligned replies were reported (a cluster the user passed in); dropped when one reconnects.
  private readonly misalignedReported = new Set<string>();
  private reopenedAt = 0;
  private reopening = false;

  constructor(redis: RedisCluster | RedisClusterOptions, private readonly options: StoreOptions) {
    this.holders = new ClientCommands(this.report);
    if (isCluster(redis)) {
      this.cluster = redis;
      this.owned = false;
    } else {
      // minimizeConnections: node-redis then connects a node when a command needs it, not every master at
      // discovery, where one dead master (mid-failover) would keep connect() pending for ever.
      const defaults = { ...redis.defaults, disableOfflineQueue: true, socket: this.stopOnClose(redis.defaults?.socket) };
      this.cluster = createCluster({ minimizeConnections: true, ...redis, defaults } as RedisClusterOptions) as RedisCluster;
      this.owned = true;
      this.cluster.on('error', this.connectionError);
    }
    if (this.discovered()) {
      this.ready = true;
      this.loadScripts();
    }
  }

  get(key: string): Promise<Buffer | null> {
    return this.onMaster(key, ['GET', key]);
  }

  /** The id of this process's connection to the master of `key`'s slot, where its lease scripts run. */
  connectionId(key: string): string {
    const master = this.ready ? this.cluster.slots[slotOf(key)]?.master : undefined;
    if (!master) return '';
    const known = this.connectionIds.get(master.address);
    if (known !== undefined) return known;
    void Promise.resolve(this.cluster.nodeClient(master)).then((client) => this.rememberConnection(master.address, client), () => undefined);
    return '';
  }

  alive(key: string, id: string): Promise<boolean | undefined> {
    return this.holders.alive(id, (args) => this.onMaster(key, args));
  }

  /** Asks a master's connection for its id, and forgets it when that connection reconnects. */
  private async rememberConnection(address: string, client: NodeClient): Promise<void> {
    if (this.connectionIds.has(address)) return;
    this.connectionIds.set(address, '');
    const forget = () => {
      this.connectionIds.delete(address);
      this.misalignedReported.delete(address);
      client.off('reconnecting', forget);
      client.off('end', forget);
    };
    client.on('reconnecting', forget);
    client.on('end', forget);
    const id = await this.holders.id((args) => client.sendCommand(args as string[]));
    if (this.connectionIds.get(address) === '') this.connectionIds.set(address, id);
  }

  /** Sent to the master of the channel name's slot; the cluster bus forwards it to every node. */
  publish(channel: string, message: string): Promise<unknown> {
    return this.onMaster(channel, ['PUBLISH', channel, message]);
  }

  /** The lease lives on the master; a replica may not have seen its latest renewal. */
  pttl(key: string): Promise<number> {
    return this.onMaster(key, ['PTTL', key]);
  }

  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void, expect?: (reply: ScriptReply) => boolean): Promise<ScriptReply> {
    if (!this.ready) return this.whenDiscovered().then(() => this.run(script, keys, args, late, expect));
    const master = this.cluster.slots[slotOf(keys[0])]?.master;
    if (!master) return this.unmapped(keys[0]);
    // Sent to the master of the first key. node-redis v4 would route EVALSHA/EVAL to a random node (its
    // cluster reads the first key from the wrong argument) and rely on MOVED, costing a rediscovery per
    // misrouted call and failing once redirections run out.
    const send = (command: ScriptArg[]) => this.cluster.sendCommand(keys[0], false, command as string[], BUFFERS);
    const call = (this.loading ?? Promise.resolve()).then(() => evalScript(send, script, keys, args, () => this.loadScripts(true), this.options.onRefused));
    const check = expect && ((reply: ScriptReply) => (expect(reply) ? undefined : this.misaligned(master.address, `the ${script.name} script`, reply)));
    return this.watch(keys[0], this.deadlinesFor(master.address).bound(call, script.name, late, check));
  }

  async subscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.pubSub()).sSubscribe(channel, listener, true);
  }

  /** node-redis picks the node of the subscriber connection's classic subscriptions (any master or replica). */
  async listen(channel: string, listener: Listener): Promise<void> {
    await (await this.pubSub()).subscribe(channel, listener, true);
  }

  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.subscriber)?.sUnsubscribe(channel, listener, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ready = false; // later calls reject with ClosedError
    this.wake?.();
    // An attempt in flight ends by itself (disconnecting a cluster herdless owns): wait for it, bounded.
    if (this.discovery) await withDeadline(this.discovery, this.options.timeoutMs, 'connecting').catch(() => undefined);
    const closing: Promise<unknown>[] = [];
    if (this.subscriber) closing.push(this.subscriber.then(shut, () => undefined));
    if (this.owned) closing.push(shut(this.cluster));
    await Promise.all(closing);
  }

  /**
   * The node clients' reconnect strategy, ending once this store is closed. node-redis v4 drops a dead
   * node from its map without disconnecting a client still trying to connect to it, and that client
   * would retry for ever after close(), keeping the process alive.
   */
  private stopOnClose<S extends { reconnectStrategy?: unknown }>(socket: S | undefined): S {
    const given = socket?.reconnectStrategy;
    const reconnectStrategy = (retries: number, cause: Error): number | false | Error => {
      if (this.closed) return new ClosedError();
      if (typeof given === 'function') return (given as (retries: number, cause: Error) => number | false | Error)(retries, cause);
      if (given === false || typeof given === 'number') return given;
      return Math.min(retries * 50, 500); // node-redis' default
    };
    return { ...socket, reconnectStrategy } as S;
  }

  private deadlinesFor(address: string): Deadlines {
    let deadlines = this.deadlines.get(address);
    if (!deadlines) {
      deadlines = new Deadlines(this.options.timeoutMs, (error) => error instanceof ErrorReply);
      this.deadlines.set(address, deadlines);
    }
    return deadlines;
  }

  private discovered(): boolean {
    return this.cluster.isOpen && this.cluster.masters.length > 0;
  }

  /** Resolves once the cluster is discovered; the first caller waits (bounded) for the first attempt only. */
  private whenDiscovered(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    this.startDiscovery();
    if (this.failFast) return Promise.reject(new RedisUnavailableError('Redis Cluster has not been reached yet; answering without the cache'));
    return withDeadline(this.firstAttempt!, this.options.timeoutMs, 'connecting to Redis Cluster').then(
      (failure) => {
        this.failFast = true;
        if (!this.ready) throw new RedisUnavailableError(`could not connect to Redis Cluster: ${(failure as Error)?.message}`, failure);
      },
      (error: Error) => {
        this.failFast = true;
        throw new RedisUnavailableError(`could not connect to Redis Cluster: ${error.message}`, error);
      },
    );
  }

  private startDiscovery(): void {
    if (this.discovery) return;
    let settle!: (failure: unknown) => void;
    this.firstAttempt = new Promise((resolve) => (settle = resolve));
    this.discovery = (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        const failure = await this.attempt();
        settle(failure);
        if (failure === undefined || this.closed) return;
        await this.pause(Math.min(RETRY_FIRST_MS * 2 ** attempt, RETRY_MAX_MS) * (0.5 + Math.random() / 2));
      }
    })().catch((error) => {
      // Not expected (attempt and pause do not throw); the next call starts a new loop.
      this.discovery = undefined;
      this.report(error);
    });
  }

  /**
   * One try: undefined once the cluster is discovered (scripts then load), else why not. Never rejects.
   * node-redis v4 leaves a cluster whose connect() failed closed and reusable (connect() again works), and
   * one whose nodes answered with no slots open with an empty map, which only reconnecting refreshes.
   */
  private async attempt(): Promise<unknown> {
    const cluster = this.cluster;
    try {
      if (cluster.isOpen && this.openedHere && cluster.masters.length === 0) {
        this.openedHere = false;
        await cluster.disconnect();
      }
      if (!cluster.isOpen) {
        this.openedHere = false;
        const connecting = cluster.connect();
        try {
          await withDeadline(connecting, Math.max(CONNECT_ATTEMPT_MIN_MS, 4 * this.options.timeoutMs), 'connecting to Redis Cluster');
        } catch (error) {
          // node-redis v4 retries a dead master of the topology it discovered for ever, so connect()
          // never settles while one is down (mid-failover): start over, to discover the topology again.
          connecting.catch(() => undefined);
          await withDeadline(cluster.disconnect(), this.options.timeoutMs, 'disconnecting').catch(() => undefined);
          throw error;
        }
        this.openedHere = true;
      }
    } catch (error) {
      this.connectionError(error);
      return error;
    }
    if (this.closed) {
      // close() may not have waited for this connect(): node clients it made are not shut by it.
      if (this.owned) await cluster.disconnect().catch(() => undefined);
      return new ClosedError();
    }
    if (!this.discovered()) return new Error(this.openedHere ? 'the cluster serves no slots yet' : 'the cluster is connecting or serves no slots yet');
    this.ready = true;
    this.loadScripts();
    return undefined;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** A key whose slot node-redis knows no master of: a refresh may find it. */
  private unmapped(key: string): Promise<never> {
    this.refresh(key);
    return Promise.reject(new RedisUnavailableError(`no master is known for the slot of '${key}' yet; answering without the cache`));
  }

  /** onError, kept from throwing into node-redis' event handlers or the reconnect loop. */
  private readonly report = (error: unknown): void => {
    try {
      this.options.onError(error);
    } catch {
      // a throwing 'error' listener must not stop the store
    }
  };

  // node-redis reports every failed node connection, and the loop every failed attempt: each distinct
  // message reaches listeners once per 5 s.
  private readonly connectionError = limitRepeats(this.report);

  /** Passes the result through; a failure that suggests a dead node starts a topology refresh. */
  /**
   * One command to the master of `key`'s slot, bounded like every command. Sent as a write: node-redis
   * would send a read-only command (GET, PTTL) to a replica when the cluster uses replicas.
   */
  private onMaster<T>(key: string, command: string[]): Promise<T> {
    if (!this.ready) return this.whenDiscovered().then(() => this.onMaster<T>(key, command));
    const master = this.cluster.slots[slotOf(key)]?.master;
    if (!master) return this.unmapped(key);
    const reply = this.cluster.sendCommand(key, false, command, BUFFERS) as Promise<T>;
    const fits = FITS.get(command[0]);
    const check = fits && ((value: T) => (fits(value) ? undefined : this.misaligned(master.address, command[0], value)));
    return this.watch(key, this.deadlinesFor(master.address).bound(reply, command[0], undefined, check));
  }

  /**
   * A reply that cannot be `what`'s own, from the master at `address`: its connection's replies are
   * misaligned. A cluster herdless opened is closed and discovered afresh; one the user passed in is
   * reported once per master connection. Returns the caller's error.
   */
  private misaligned(address: string, what: string, reply: unknown): MisalignedReplyError {
    const error = new MisalignedReplyError(
      `Redis (${address}) answered ${what} with ${describeReply(reply)}, which cannot be its reply: the connection's replies are misaligned ` +
        `(each handed to another command, as node-redis 4 does after a connection was cut inside a reply); ` +
        (this.owned
          ? 'herdless reconnects the cluster it opened'
          : "nothing it answers is served as a value, but herdless cannot replace the connections of a cluster it was given: reconnect it (disconnect() and connect()) to recover"),
      what,
    );
    if (this.closed) return error;
    if (this.owned) {
      this.connectionError(error);
      this.reopen();
    } else if (!this.misalignedReported.has(address)) {
      this.misalignedReported.add(address);
      this.report(error);
    }
    return error;
  }

  /**
   * Closes the cluster herdless opened and discovers it afresh: new node connections, new decoders.
   * Meanwhile calls are answered without the cache.
   */
  private reopen(): void {
    if (this.closed || this.reopening || Date.now() - this.reopenedAt < RESUBSCRIBE_MS) return;
    this.reopening = true;
    this.reopenedAt = Date.now();
    this.ready = false;
    this.failFast = true;
    this.openedHere = false;
    this.connectionIds.clear();
    this.loadedMasters = '';
    void withDeadline(this.cluster.disconnect(), this.options.timeoutMs, 'disconnecting')
      .catch(() => undefined)
      .then(() => {
        this.reopening = false;
        if (this.closed) return;
        this.discovery = undefined;
        this.startDiscovery();
      });
  }

  private watch<T>(key: string, pending: Promise<T>): Promise<T> {
    return pending.catch((error: unknown) => {
      if (!(error instanceof ErrorReply) || /^(CLUSTERDOWN|TRYAGAIN)/.test(error.message)) this.refresh(key);
      throw error;
    });
  }

  private refresh(key: string): void {
    if (this.closed || this.refreshing || Date.now() - this.lastRefresh < REFRESH_INTERVAL_MS) return;
    this.lastRefresh = Date.now();
    const before = masterAddresses(this.cluster);
    this.refreshing = (async () => {
      // Ask the other masters about the key: one that does not own its slot answers MOVED, and node-redis
      // then rediscovers. Each is addressed through a key of its own slots: node-redis' random routing
      // spins forever when its node list is empty, so it is never used.
      const owner = this.cluster.slots[slotOf(key)]?.master;
      for (const master of this.cluster.masters.filter((m) => m !== owner)) {
        const via = keyServedBy(this.cluster, master);
        if (via === undefined) continue;
        await withDeadline(this.cluster.sendCommand(via, false, ['EXISTS', key]), this.options.timeoutMs, 'EXISTS').catch(() => undefined);
        if (masterAddresses(this.cluster) !== before) break;
      }
      if (masterAddresses(this.cluster) !== before) this.topologyChanged();
    })().catch(this.report).finally(() => {
      this.refreshing = undefined;
      this.lastRefresh = Date.now();
    });
  }

  private topologyChanged(): void {
    this.loadScripts();
    this.replaceSubscriber();
  }

  /**
   * Drops the subscriber connection; subscribers subscribe again on a new one, which discovers the
   * topology afresh. node-redis would otherwise reconnect a dead node's subscription to its old address
   * for ever (a replica's death is not even seen by the other commands).
   */
  private replaceSubscriber(): void {
    const old = this.subscriber;
    if (!old) return;
    this.subscriber = undefined;
    this.subscriberReplacedAt = Date.now();
    old.then((subscriber) => subscriber.disconnect()).catch(() => undefined);
    this.onSubscriptionsLost(true);
  }

  /** SCRIPT LOAD on every master not yet loaded (all of them when `again`), bounded like a command. */
  private loadScripts(again = false): void {
    const masters = this.cluster.masters;
    const addresses = masterAddresses(this.cluster);
    if ((!again && addresses === this.loadedMasters) || this.loading) return;
    this.loadedMasters = addresses;
    const scripts = this.options.scripts;
    const all = Promise.all(
      masters.map(async (master) => {
        const client = await this.cluster.nodeClient(master);
        await Promise.all(
          scripts.map(async (script) => {
            // SCRIPT LOAD answers the script's SHA1: anything else was another command's reply.
            const sha = await client.scriptLoad(script.source);
            if (String(sha) !== script.sha) this.misaligned(master.address, 'SCRIPT LOAD', sha);
          }),
        );
        // Known before the first lease on this master, so even that one records its holder's connection.
        await this.rememberConnection(master.address, client);
      }),
    );
    const loading = withDeadline(all, this.options.timeoutMs, 'SCRIPT LOAD on every master')
      .then(() => undefined, this.report)
      .finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    this.loading = loading;
  }

  private pubSub(): Promise<RedisCluster> {
    if (this.closed) return Promise.reject(new ClosedError());
    if (!this.subscriber) {
      // A duplicate of a cluster herdless opened inherits its reconnect strategy (stopOnClose).
      const subscriber = this.cluster.duplicate({ minimizeConnections: true }) as RedisCluster;
      // A failing subscriber connection loses messages; it is replaced, at most once per RESUBSCRIBE_MS.
      subscriber.on('error', (error) => {
        this.connectionError(error);
        if (this.subscriber !== connected) return;
        this.onSubscriptionsLost(false);
        if (Date.now() - this.subscriberReplacedAt >= RESUBSCRIBE_MS) this.replaceSubscriber();
      });
      const connected: Promise<RedisCluster> = subscriber.connect().then(() => subscriber);
      connected.catch(() => {
        if (this.subscriber === connected) this.subscriber = undefined;
      });
      this.subscriber = connected;
    }
    return this.subscriber;
  }
}


/** A key whose slot `master` serves, found by trying probe names (a few tries: a master serves ~1/3 of slots). */
function keyServedBy(cluster: RedisCluster, master: unknown): string | undefined {
  for (let i = 0; i < 1_000; i++) {
    const key = `herdless:probe:${i}`;
    if (cluster.slots[slotOf(key)]?.master === master) return key;
  }
  return undefined;
}

/** What each command herdless sends to a master can be answered with: anything else was another command's reply. */
const FITS = new Map<string, (reply: unknown) => boolean>([
  ['GET', (reply) => reply === null || Buffer.isBuffer(reply)],
  ['PTTL', (reply) => typeof reply === 'number'],
  ['PUBLISH', (reply) => typeof reply === 'number'],
  // CLIENT LIST ID
  ['CLIENT', (reply) => reply === null || Buffer.isBuffer(reply) || typeof reply === 'string'],
]);

function isCluster(value: RedisCluster | RedisClusterOptions): value is RedisCluster {
  return clientKind(value) === 'v4-cluster';
}

function masterAddresses(cluster: RedisCluster): string {
  return cluster.masters.map((master) => master.address).sort().join(',');
}
