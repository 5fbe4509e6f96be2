import { createCluster, ErrorReply, type RedisClusterOptions, type RedisClusterType } from 'redis';
import { ClosedError, RedisUnavailableError } from '../errors';
import { Deadlines, withDeadline } from './deadline';
import type { Script } from './script';
import { slotOf } from './slot';
import { shut } from './standalone';
import { BUFFERS, evalScript, type Listener, type ScriptArg, type ScriptReply, type Store, type StoreOptions } from './store';

// Any node-redis v4 cluster, whatever modules or scripts its owner configured.
export type RedisCluster = RedisClusterType<any, any, any>;

// Don't poke the topology more often than this while a failover is under way.
const REFRESH_INTERVAL_MS = 250;

/**
 * Redis Cluster. Every key of one call shares a hash tag, so each GET and script goes to the master of
 * that slot (node-redis routes a script by its first key). Invariants beyond the standalone store's:
 * - scripts are loaded on every master after the first discovery and after every topology change;
 * - node-redis v4 refreshes its slot map only when a node answers MOVED or ASK, so after a master dies it
 *   would keep sending that slot's commands to the dead address. On a connection failure or CLUSTERDOWN
 *   this store sends a harmless EXISTS for the key to the other masters until one answers MOVED, which
 *   makes node-redis rediscover the topology; the failed calls are answered without the cache meanwhile;
 * - wake-ups use sharded pub/sub on a separate cluster connection; when the topology changes that
 *   connection is replaced and subscribers are told to subscribe again (waiters poll until then).
 */
export class ClusterStore implements Store {
  /** Called when existing subscriptions may have been lost and should be made again. */
  onSubscriptionsLost: () => void = () => undefined;
  private readonly cluster: RedisCluster;
  private readonly owned: boolean;
  private connecting: Promise<void> | undefined;
  private failFast = false;
  private loading: Promise<void> | undefined;
  private loadedMasters = '';
  private subscriber: Promise<RedisCluster> | undefined;
  private refreshing: Promise<void> | undefined;
  private lastRefresh = 0;
  private closed = false;
  // One per master: a quiet master must not be hidden by the answers of the others.
  private readonly deadlines = new Map<string, Deadlines>();

  constructor(redis: RedisCluster | RedisClusterOptions, private readonly options: StoreOptions) {
    if (isCluster(redis)) {
      this.cluster = redis;
      this.owned = false;
    } else {
      this.cluster = createCluster({ ...redis, defaults: { ...redis.defaults, disableOfflineQueue: true } }) as RedisCluster;
      this.owned = true;
      this.cluster.on('error', options.onError);
    }
    if (this.discovered()) {
      this.failFast = true;
      this.loadScripts();
    }
  }

  get(key: string): Promise<Buffer | null> {
    if (!this.failFast) return this.whenConnected().then(() => this.get(key));
    return this.watch(key, this.deadlinesFor(key).bound(this.cluster.get(BUFFERS, key) as Promise<Buffer | null>, 'GET'));
  }

  run(script: Script, keys: string[], args: ScriptArg[], late?: (reply: ScriptReply) => void): Promise<ScriptReply> {
    if (!this.failFast) return this.whenConnected().then(() => this.run(script, keys, args, late));
    const call = (this.loading ?? Promise.resolve()).then(() => evalScript(this.router, script, keys, args, () => this.loadScripts(true)));
    return this.watch(keys[0], this.deadlinesFor(keys[0]).bound(call, script.name, late));
  }

  async subscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.pubSub()).sSubscribe(channel, listener, true);
  }

  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    await (await this.subscriber)?.sUnsubscribe(channel, listener, true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing: Promise<unknown>[] = [];
    if (this.subscriber) closing.push(this.subscriber.then(shut, () => undefined));
    if (this.owned) closing.push(shut(this.cluster));
    await Promise.all(closing);
  }

  /**
   * EVALSHA/EVAL sent to the master of the first key. node-redis v4 would route them to a random node
   * (its cluster reads the first key from the wrong argument) and rely on MOVED, costing a rediscovery
   * per misrouted call and failing once redirections run out.
   */
  private readonly router = {
    evalSha: (options: typeof BUFFERS, sha: string, { keys, arguments: args }: { keys: string[]; arguments: string[] }) =>
      this.cluster.sendCommand(keys[0], false, ['EVALSHA', sha, String(keys.length), ...keys, ...args], options),
    eval: (options: typeof BUFFERS, source: string, { keys, arguments: args }: { keys: string[]; arguments: string[] }) =>
      this.cluster.sendCommand(keys[0], false, ['EVAL', source, String(keys.length), ...keys, ...args], options),
  };

  private deadlinesFor(key: string): Deadlines {
    const address = this.cluster.slots[slotOf(key)]?.master?.address ?? '';
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

  private whenConnected(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError());
    if (!this.connecting) {
      this.connecting = (this.cluster.isOpen ? Promise.resolve() : this.cluster.connect()).then(() => {
        this.failFast = true;
        this.loadScripts();
      });
      this.connecting.catch(this.options.onError);
    }
    return withDeadline(this.connecting, this.options.timeoutMs, 'connecting to Redis Cluster').catch((error) => {
      this.failFast = true;
      throw new RedisUnavailableError(`could not connect to Redis Cluster: ${error.message}`, error);
    });
  }

  /** Passes the result through; a failure that suggests a dead node starts a topology refresh. */
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
        await withDeadline(this.cluster.sendCommand(via, true, ['EXISTS', key]), this.options.timeoutMs, 'EXISTS').catch(() => undefined);
        if (masterAddresses(this.cluster) !== before) break;
      }
      if (masterAddresses(this.cluster) !== before) this.topologyChanged();
    })().finally(() => {
      this.refreshing = undefined;
      this.lastRefresh = Date.now();
    });
  }

  private topologyChanged(): void {
    this.loadScripts();
    const old = this.subscriber;
    if (old) {
      this.subscriber = undefined;
      old.then((subscriber) => subscriber.disconnect()).catch(() => undefined);
      this.onSubscriptionsLost();
    }
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
        await Promise.all(scripts.map((script) => client.scriptLoad(script.source)));
      }),
    );
    const loading = withDeadline(all, this.options.timeoutMs, 'SCRIPT LOAD on every master')
      .then(() => undefined, this.options.onError)
      .finally(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    this.loading = loading;
  }

  private pubSub(): Promise<RedisCluster> {
    if (this.closed) return Promise.reject(new ClosedError());
    if (!this.subscriber) {
      const subscriber = this.cluster.duplicate({ minimizeConnections: true }) as RedisCluster;
      subscriber.on('error', this.options.onError);
      const connected = subscriber.connect().then(() => subscriber);
      connected.catch(() => {
        if (this.subscriber === connected) this.subscriber = undefined;
      });
      this.subscriber = connected;
    }
    return this.subscriber;
  }
}

export function isCluster(value: unknown): value is RedisCluster {
  return typeof (value as RedisCluster)?.sSubscribe === 'function' && typeof (value as RedisCluster)?.getSlotMaster === 'function';
}

/** A key whose slot `master` serves, found by trying probe names (a few tries: a master serves ~1/3 of slots). */
function keyServedBy(cluster: RedisCluster, master: unknown): string | undefined {
  for (let i = 0; i < 1_000; i++) {
    const key = `herdless:probe:${i}`;
    if (cluster.slots[slotOf(key)]?.master === master) return key;
  }
  return undefined;
}

function masterAddresses(cluster: RedisCluster): string {
  return cluster.masters.map((master) => master.address).sort().join(',');
}
