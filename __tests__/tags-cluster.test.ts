import { createClient } from 'redis';
import { slotOf } from '../src/store/slot';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startCluster, type LocalCluster } from '../support/redis-cluster';
import { startFreshFleet, type FleetEvent, type FreshFleet } from './fixtures/freshness-fleet';
import type { CacheSpec, CallResult, FactorySpec } from './fixtures/freshness-worker';
import type { CallOptions } from '../src';

// Tags on a real Redis Cluster (3 masters, 3 replicas): a tag's version lives at N:tag:{<tag>}, in the
// tag's own slot, so the tags of one entry, and the entry itself, sit on different masters; nothing may
// run a script across slots. Two worker processes use the cluster (CacheSpec.rootNodes), one with the
// memory tier; they count their factory runs on a standalone server. Another process is allowed 100 ms
// for the channel to deliver an invalidation (it takes about 1 ms).

let cluster: LocalCluster;
let counters: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;
let fleet: FreshFleet;

beforeAll(async () => {
  [cluster, counters] = await Promise.all([startCluster(), startRedis()]);
  admin = createClient({ url: counters.url });
  await admin.connect();
  fleet = await startFreshFleet(2, counters.url);
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await admin?.quit();
  await counters?.stop();
  await cluster?.stop();
});

const DELIVERY_MS = 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The two workers' caches on one namespace: worker 0 with the memory tier, worker 1 without. */
function specs(namespace: string): CacheSpec[] {
  const options = { ttl: 60_000, commandTimeout: 300 };
  return [
    { namespace, rootNodes: cluster.rootNodes, options: { ...options, l1: true } },
    { namespace, rootNodes: cluster.rootNodes, options: { ...options, l1: false } },
  ];
}

/** slot -> the port of the master serving it, as the cluster says now. */
function slotMap(): (slot: number) => number {
  const alive = cluster.nodes.find((node) => node.process.exitCode === null && node.process.signalCode === null)!;
  const ranges = (JSON.parse(cluster.cli(alive.port, '--json', 'cluster', 'slots')) as [number, number, [string, number]][]).map(([from, to, [, port]]) => ({ from, to, port }));
  return (slot) => ranges.find((r) => slot >= r.from && slot <= r.to)!.port;
}

const tagKey = (namespace: string, tag: string) => `${namespace}:tag:{${tag}}`;
const valueKey = (namespace: string, key: string) => `${namespace}:{${key}}:v`;

/** A name `${prefix}<n>` whose Redis key (by `keyOf`) is served by the master `port`. */
function nameOn(port: number, masterOf: (slot: number) => number, prefix: string, keyOf: (name: string) => string): string {
  for (let i = 0; ; i++) if (masterOf(slotOf(keyOf(`${prefix}${i}`))) === port) return `${prefix}${i}`;
}

const runs = async (namespace: string, key: string) => Number((await admin.get(`runs:${namespace}:${key}`)) ?? 0);
const errorsOf = (namespace: string): FleetEvent[] => fleet.events.filter((e) => e.namespace === namespace && e.event === 'error');
const factory = (key: string, delayMs = 50): FactorySpec => ({ value: key, delayMs });

type Entries = Record<string, CallOptions | undefined>;

/** Both workers call every entry concurrently (`callers` each, at one instant); results by entry. */
async function callAll(ss: CacheSpec[], entries: Entries, callers = 2, delayMs = 100): Promise<Record<string, CallResult[]>> {
  const at = Date.now() + 50;
  const out: Record<string, CallResult[]> = {};
  await Promise.all(
    Object.entries(entries).flatMap(([key, options]) =>
      fleet.workers.map(async (w) => (out[key] ??= []).push(...(await w.call(ss[w.index], key, factory(key, delayMs), options, { callers, at })))),
    ),
  );
  return out;
}

/** Both workers read every entry back to back for `forMs`. */
async function loopAll(ss: CacheSpec[], entries: Entries, forMs: number): Promise<Record<string, (CallResult & { worker: number })[]>> {
  const at = Date.now() + 20;
  const out: Record<string, (CallResult & { worker: number })[]> = {};
  await Promise.all(
    Object.entries(entries).flatMap(([key, options]) =>
      fleet.workers.map(async (w) => {
        const reads = await w.loop(ss[w.index], key, factory(key), { forMs, gapMs: 10, options, at });
        (out[key] ??= []).push(...reads.map((read) => ({ ...read, worker: w.index })));
      }),
    ),
  );
  return out;
}

/** GETs served by the masters so far. */
async function masterGets(): Promise<number> {
  let total = 0;
  for (const port of await cluster.masters()) total += Number(cluster.cli(port, 'info', 'commandstats').match(/cmdstat_get:calls=(\d+)/)?.[1] ?? 0);
  return total;
}

/** Every caller got the run `expected[key]` of its entry, and the counters agree. */
async function expectRuns(namespace: string, results: Record<string, CallResult[]>, expected: Record<string, number>) {
  const got: Record<string, unknown> = {};
  const counted: Record<string, number> = {};
  for (const key of Object.keys(expected)) {
    got[key] = [...new Set(results[key].map((r) => (r.ok ? r.value!.run : `failed: ${r.error?.message}`)))];
    counted[key] = await runs(namespace, key);
  }
  expect(got).toEqual(Object.fromEntries(Object.entries(expected).map(([key, run]) => [key, [run]])));
  expect(counted).toEqual(expected);
}

test('tags on every master, entries on other masters than their tags, 2 processes (one with l1): invalidateTags of several tags and clear() recompute exactly the invalidated entries, once each', async () => {
  const ns = 'tags-spread';
  const ss = specs(ns);
  const masterOf = slotMap();
  const masters = await cluster.masters();
  expect(new Set(masters).size).toBe(3);
  const [m0, m1, m2] = masters;
  const tag = (port: number) => nameOn(port, masterOf, 'tag', (t) => tagKey(ns, t));
  const key = (port: number, prefix: string) => nameOn(port, masterOf, prefix, (k) => valueKey(ns, k));
  const [tA, tB, tC] = [tag(m0), tag(m1), tag(m2)];
  // Each entry lives on another master than each of its tags; one entry has tags on two masters.
  const entries: Entries = {
    [key(m1, 'a')]: { tags: [tA] },
    [key(m2, 'b')]: { tags: [tB] },
    [key(m0, 'c')]: { tags: [tC] },
    [key(m1, 'ac')]: { tags: [tA, tC] },
    [key(m1, 'plain')]: undefined,
  };
  const [a, b, c, abc, plain] = Object.keys(entries);
  for (const [entry, options] of Object.entries(entries)) {
    const entryMaster = masterOf(slotOf(valueKey(ns, entry)));
    for (const t of options?.tags ?? []) expect(masterOf(slotOf(tagKey(ns, t)))).not.toBe(entryMaster);
  }

  // Fill, then read a while: worker 0's memory tier fills.
  await expectRuns(ns, await callAll(ss, entries), { [a]: 1, [b]: 1, [c]: 1, [abc]: 1, [plain]: 1 });
  await loopAll(ss, entries, 1_000);
  for (const entry of Object.keys(entries)) expect(await runs(ns, entry)).toBe(1);
  // Worker 0 answers from memory: a window of its reads costs fewer GETs than half of them.
  await until(async () => {
    const before = await masterGets();
    const reads = await Promise.all(Object.entries(entries).map(([k, options]) => fleet.workers[0].loop(ss[0], k, factory(k), { forMs: 300, gapMs: 5, options })));
    return (await masterGets()) - before < reads.flat().length / 2;
  }, "worker 0's memory tier to answer");

  // Two tags on two masters at once, from the process with the memory tier.
  await fleet.workers[0].invalidateTags(ss[0], [tA, tB]);
  await sleep(DELIVERY_MS);
  await expectRuns(ns, await callAll(ss, entries), { [a]: 2, [b]: 2, [c]: 1, [abc]: 2, [plain]: 1 });

  // Every tag at once, from the other process.
  await fleet.workers[1].invalidateTags(ss[1], [tC, tA, tB]);
  await sleep(DELIVERY_MS);
  await expectRuns(ns, await callAll(ss, entries), { [a]: 3, [b]: 3, [c]: 2, [abc]: 3, [plain]: 1 });

  // clear(): every entry, tagged or not, once.
  await fleet.workers[1].clear(ss[1]);
  await sleep(DELIVERY_MS);
  await expectRuns(ns, await callAll(ss, entries), { [a]: 4, [b]: 4, [c]: 3, [abc]: 4, [plain]: 2 });
  // And from the process with the memory tier.
  await fleet.workers[0].clear(ss[0]);
  await sleep(DELIVERY_MS);
  await expectRuns(ns, await callAll(ss, entries), { [a]: 5, [b]: 5, [c]: 4, [abc]: 5, [plain]: 3 });

  // Cached again; and nothing failed on the way (no CROSSSLOT, no other error).
  await expectRuns(ns, await callAll(ss, entries), { [a]: 5, [b]: 5, [c]: 4, [abc]: 5, [plain]: 3 });
  expect(errorsOf(ns).map((e) => e.error?.message)).toEqual([]);
}, 60_000);

test("the master holding a tag's version fails over: afterwards invalidateTags and clear() work, and no entry is served stale", async () => {
  const ns = 'tags-failover';
  const ss = specs(ns);
  const masterOf = slotMap();
  const masters = await cluster.masters();
  // The victim holds the tag's version; the entry lives on another master, and survives.
  const victim = masters[0];
  const t = nameOn(victim, masterOf, 'tag', (name) => tagKey(ns, name));
  const e = nameOn(masters[1], masterOf, 'e', (k) => valueKey(ns, k));
  const entries: Entries = { [e]: { tags: [t] } };
  await callAll(ss, entries);
  await loopAll(ss, entries, 600);
  expect(await runs(ns, e)).toBe(1);
  // The version has reached the victim's replica before it dies (replication is asynchronous).
  const replica = cluster.nodes.find((node) => node.port !== victim && /role:slave/.test(cluster.cli(node.port, 'info', 'replication')) && cluster.cli(node.port, 'info', 'replication').includes(`master_port:${victim}`))!;
  expect(replica).toBeDefined();
  const offset = (port: number, field: string) => Number(cluster.cli(port, 'info', 'replication').match(new RegExp(`${field}:(\\d+)`))?.[1] ?? -1);
  const written = offset(victim, 'master_repl_offset');
  await until(() => offset(replica.port, 'slave_repl_offset') >= written, 'the version to be replicated');

  cluster.nodes.find((node) => node.port === victim)!.process.kill('SIGKILL');
  // Reads go on meanwhile: nothing fails (a call Redis cannot answer is answered by the function).
  const during = loopAll(ss, entries, 4_000);
  await cluster.waitUntilHealthy(30_000);
  const reads = Object.values(await during).flat();
  expect(reads.filter((r) => !r.ok)).toEqual([]);

  // invalidateTags of the tag whose master died: retried while the clients find the promoted replica.
  const check = async (invalidate: () => Promise<void>, what: string) => {
    let before = 0;
    let resolvedAt = 0;
    await until(async () => {
      before = await runs(ns, e);
      return invalidate().then(() => ((resolvedAt = Date.now()), true), () => false);
    }, what);
    // No read started after it (100 ms for the other process) is handed a value computed before it.
    const after = (await loopAll(ss, entries, 1_500))[e];
    expect(after.filter((r) => !r.ok)).toEqual([]);
    const stale = after.filter((r) => r.startedAt > resolvedAt + (r.worker === 1 ? 0 : DELIVERY_MS) && r.value!.run <= before);
    expect(stale.map((r) => ({ worker: r.worker, run: r.value!.run, before, startedAt: r.startedAt - resolvedAt }))).toEqual([]);
    expect(after.filter((r) => r.startedAt > resolvedAt + DELIVERY_MS).length).toBeGreaterThan(10);
    // And the entry is cached again: a window of reads without a run.
    await until(async () => {
      const count = await runs(ns, e);
      await loopAll(ss, entries, 300);
      return (await runs(ns, e)) === count;
    }, 'the entry to be cached again');
  };
  await check(() => fleet.workers[1].invalidateTags(ss[1], [t]), 'invalidateTags to succeed after the failover');
  await check(() => fleet.workers[1].clear(ss[1]), 'clear() to succeed after the failover');
}, 90_000);
