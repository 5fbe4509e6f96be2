/*
 * One soak worker process (run.ts forks several). It runs a random workload on one cache until the parent
 * says finish: SETTINGS.lanes callers, each calling back to back — mostly getOrSet over the key space
 * (hot keys more often), sometimes set, delete, invalidateTags of a key's tag or of a group of twenty
 * keys, and clear. Every call, function run and write is logged (log.ts) and sent to the parent in
 * batches. Each call's outcome comes from its herdless:getOrSet trace, as a dashboard would see it.
 *
 * A call still pending past its bound (from the options, as the oracle computes it) is logged as hung and
 * left behind, so a hang cannot stall the run. Unhandled rejections and uncaught exceptions are logged as
 * problems. When told to finish, it stops the lanes, waits for calls in flight, and reports its heap after
 * a forced gc (node --expose-gc) against the one it measured once warmed up.
 */
import diagnostics from 'node:diagnostics_channel';
import { createClient } from 'redis';
import { CHANNELS, createCache, type CacheOptions, type GetOrSetContext } from '../../src';
import { callBoundMs, writeBoundMs } from './bounds';
import { failureOf, groupOf, keyName, PROFILES, seeded, SETTINGS, tagOf, type Entry, type Made, type ParentMessage, type WorkerMessage, type WriteKind } from './log';

interface Args {
  index: number;
  incarnation: number;
  /** How this worker reaches Redis: a URL (through its fault proxy) or a cluster's root nodes. */
  redis: { url: string } | { cluster: { rootNodes: { url: string }[] } };
  clockUrl: string;
  namespace: string;
  seed: number;
  /** How long to run before measuring the heap the end is compared with. */
  warmupMs: number;
}

const args = JSON.parse(process.argv[2]) as Args;
const { index, incarnation } = args;
const profile = PROFILES[index % PROFILES.length];
const send = (message: WorkerMessage) => process.send?.(message);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const describe = (error: unknown) => {
  const { name, message, code } = (error ?? {}) as Error & { code?: unknown };
  return `${name}: ${message}${code === undefined ? '' : ` (${String(code)})`}`;
};

// Seeded per worker and incarnation: a run's workload is reproducible from its seed.
const random = seeded(args.seed ^ (index * 0x9e3779b9) ^ (incarnation * 0x85ebca6b));
const between = ([low, high]: readonly [number, number]) => low + Math.floor(random() * (high - low + 1));
/** Hot keys first: the square of a uniform number favours low indices (k0 is about 14 times as likely as k100). */
const pickKey = () => Math.min(SETTINGS.keys - 1, Math.floor(SETTINGS.keys * random() ** 2));

const pending: Entry[] = [];
const log = (entry: Entry) => pending.push(entry);
const flushing = setInterval(() => {
  if (pending.length > 0) send({ type: 'batch', entries: pending.splice(0) });
}, 200);

process.on('unhandledRejection', (reason) => log({ type: 'problem', worker: index, kind: 'unhandled', detail: describe(reason), at: Date.now() }));
process.on('uncaughtException', (error) => log({ type: 'problem', worker: index, kind: 'unhandled', detail: `uncaught ${describe(error)}`, at: Date.now() }));

async function main() {
  const clock = createClient({ url: args.clockUrl });
  clock.on('error', () => undefined);
  await clock.connect();
  const options: CacheOptions = {
    redis: args.redis,
    namespace: args.namespace,
    ttl: SETTINGS.ttlMs,
    grace: profile.graceMs,
    l1: profile.l1,
    commandTimeout: SETTINGS.commandTimeoutMs,
    lease: { ttl: SETTINGS.leaseTtlMs },
    wait: { timeout: SETTINGS.waitTimeoutMs },
  };
  const cache = createCache(options);
  // Errors are expected under faults; they are counted in stats(), not logged one by one.
  cache.on('error', (error) => process.env.SOAK_DEBUG && console.error(`w${index} ${Date.now()} ${describe(error)}`));

  // The trace of the call being started: getOrSet publishes its start synchronously, so the context
  // seen there is the one of the call made on the line that set `capturing`.
  let captured: GetOrSetContext | undefined;
  let capturing = false;
  diagnostics.tracingChannel<GetOrSetContext>(CHANNELS.getOrSet).subscribe({
    start(context) {
      if (capturing) captured = context;
    },
    end() {},
    asyncStart() {},
    asyncEnd() {},
    error() {},
  });

  let calls = 0;
  const bound = callBoundMs();
  const getOrSet = (i: number) =>
    new Promise<void>((resolve) => {
      const key = keyName(i);
      const id = `${index}.${incarnation}.${++calls}`;
      const factory = async (): Promise<Made> => {
        const start = Date.now();
        const run = await clock.incr(`clock:${key}`);
        await sleep(between(SETTINGS.functionMs));
        // Some runs fail: their error is shared with every caller waiting on them, in every process.
        const threw = random() < SETTINGS.failingRuns;
        log({ type: 'run', worker: index, key, run, call: id, start, end: Date.now(), ...(threw ? { threw: true as const } : {}) });
        if (threw) throw new Error(failureOf(key, run));
        return { key, run, worker: index, kind: 'run' };
      };
      const start = Date.now();
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        log({ type: 'call', worker: index, id, key, start, end: Date.now(), ok: false, error: 'hung', hung: true });
        resolve();
      }, bound);
      capturing = true;
      const call = cache.getOrSet(key, factory, { tags: [tagOf(key), groupOf(i)] });
      capturing = false;
      const trace = captured;
      captured = undefined;
      call.then(
        (value) => {
          if (settled) return;
          clearTimeout(timer);
          log({ type: 'call', worker: index, id, key, start, end: Date.now(), ok: true, outcome: trace?.outcome, tier: trace?.tier, value: value as Made });
          resolve();
        },
        (error: unknown) => {
          if (settled) return;
          clearTimeout(timer);
          log({ type: 'call', worker: index, id, key, start, end: Date.now(), ok: false, outcome: trace?.outcome, error: describe(error) });
          resolve();
        },
      );
    });

  const write = async (kind: WriteKind, i: number) => {
    const keys =
      kind === 'clear' ? Array.from({ length: SETTINGS.keys }, (_, k) => keyName(k))
      : kind === 'group' ? Array.from({ length: SETTINGS.keys / 10 }, (_, k) => keyName(k * 10 + (i % 10)))
      : [keyName(i)];
    // The floors, taken before the write is sent.
    const floors = (await clock.sendCommand(['EVAL', FLOORS, String(keys.length), ...keys.map((key) => `clock:${key}`)])) as number[];
    const sent = Date.now();
    const bounded = writeBoundMs();
    let outcome: { ok: boolean; error?: string };
    try {
      const writing =
        kind === 'set' ? cache.set(keys[0], { key: keys[0], run: floors[0], worker: index, kind: 'set' } satisfies Made, { tags: [tagOf(keys[0]), groupOf(i)] })
        : kind === 'delete' ? cache.delete(keys[0])
        : kind === 'tags' ? cache.invalidateTags([tagOf(keys[0])])
        : kind === 'group' ? cache.invalidateTags([groupOf(i)])
        : cache.clear();
      const hung = Symbol('hung');
      const settled = await Promise.race([writing.then(() => undefined), sleep(bounded).then(() => hung)]);
      outcome = settled === hung ? { ok: false, error: 'hung' } : { ok: true };
    } catch (error) {
      outcome = { ok: false, error: describe(error) };
    }
    log({ type: 'write', worker: index, kind, keys, floors, sent, resolved: Date.now(), ...outcome });
  };

  let running = true;
  const lane = async () => {
    while (running) {
      const roll = random();
      const i = pickKey();
      // About one call in forty writes: keys expire under load as well as being invalidated.
      if (roll < 0.975) await getOrSet(i);
      else if (roll < 0.985) await write('set', i);
      else if (roll < 0.991) await write('delete', i);
      else if (roll < 0.996) await write('tags', i);
      else if (roll < 0.99695) await write('group', i);
      else if (roll < 0.997) await write('clear', i);
      else await getOrSet(i);
      await sleep(random() * SETTINGS.gapMs);
    }
  };
  const lanes = Array.from({ length: SETTINGS.lanes }, lane);

  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    return process.memoryUsage().heapUsed;
  };
  await sleep(args.warmupMs);
  const heapStart = heap();
  // Every 10 s, for the log: a leak shows as a climb, bounded caches as a plateau.
  const samples: number[] = [];
  const sampling = setInterval(() => samples.push(heap()), 10_000);

  const finished = new Promise<void>((resolve) => process.on('message', (message: ParentMessage) => message.type === 'finish' && resolve()));
  send({ type: 'ready' });
  await finished;
  running = false;
  await Promise.all(lanes);
  // Once the lanes are done, what the cache still holds is what a long-lived process would keep.
  await sleep(100);
  const heapEnd = heap();
  clearInterval(sampling);
  clearInterval(flushing);
  send({ type: 'batch', entries: pending.splice(0) });
  send({ type: 'done', heap: { type: 'heap', worker: index, incarnation, start: heapStart, end: heapEnd, samples } });
  await cache.close();
  await clock.quit();
  process.disconnect?.();
}

/** INCR every clock given, in one step: a write's floors are taken together. */
const FLOORS = "local floors = {} for i, key in ipairs(KEYS) do floors[i] = redis.call('INCR', key) end return floors";

main().catch((error) => {
  log({ type: 'problem', worker: index, kind: 'unhandled', detail: `worker failed: ${describe(error)}`, at: Date.now() });
  send({ type: 'batch', entries: pending.splice(0) });
  setTimeout(() => process.exit(1), 100);
});
