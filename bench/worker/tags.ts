import { performance } from 'node:perf_hooks';
import { readVersion } from '../../src/tags/scripts';
import { CommandFeed, type Sent } from '../lib/monitor';
import { sleep } from '../lib/time';
import type { CacheUnderTest, TaggedCache } from '../strategies/strategy';
import { HIT_VALUE } from './hits';

/*
 * The tags phase's work inside a worker, on the cache the worker opened (its `tags`):
 * - hits: one key per caller for each variant (untagged, 0, 1 and 5 tags), measured in rounds that take
 *   the variants back to back;
 * - fill / invalidate / check: entries tagged 'big' written through the cache's set, then invalidateTags
 *   timed one call after another (the parent counts the commands with INFO commandstats);
 * - reread-prepare / reread-run (herdless): after the parent killed the subscriber connection, every key
 *   hit pass after pass until a pass sends no tag-version read, counted by sha from MONITOR.
 */

/** The variants, in round order; `tags` is the number of tags per entry (undefined: no tags option). */
export const TAG_VARIANTS = [
  { name: 'untagged', tags: undefined },
  { name: '0 tags', tags: 0 },
  { name: '1 tag', tags: 1 },
  { name: '5 tags', tags: 5 },
] as const;

export type TagVariant = (typeof TAG_VARIANTS)[number]['name'];

/**
 * Caller i's tags, a new array for every call, as an application builds them from the record it caches
 * (product i in its category, brand and locale); undefined: no tags option at all.
 */
export function tagsFor(count: number | undefined, i: number): string[] | undefined {
  if (count === undefined) return undefined;
  if (count === 0) return [];
  if (count === 1) return [`product:${i}`];
  return [`product:${i}`, 'catalog', `category:${i % 8}`, `brand:${i % 4}`, 'locale:en'];
}

/** Where caller i of a scenario keeps its entry for a variant: separate keys, since each variant stores its own stamp. */
export function variantKey(callers: number, variant: number, i: number): string {
  return `tagged:${callers}:${variant}:${i}`;
}

export interface TagsHitsRequest {
  /** Concurrent callers, each on its own key. */
  callers: number;
  roundMs: number;
  rounds: number;
  warmupMs: number;
}

export interface TagsHitsSide {
  opsPerSec: number[];
  latenciesUs: number[];
}

export interface TagsHitsResult {
  /** By variant, in TAG_VARIANTS order: throughput of each round, a sample of latencies. */
  variants: TagsHitsSide[];
  /** Per variant, hits by tier in one pass after the rounds (caches that report it). */
  tiers: { memory: number; redis: number }[] | undefined;
  /** Keys written, to check later that invalidating another tag left them alone. */
  keys: string[];
}

function tagged(cache: CacheUnderTest): TaggedCache {
  if (!cache.tags) throw new Error('this strategy has no tags');
  return cache.tags;
}

const expectHit = () => Promise.reject(new Error('a hit was expected'));

/**
 * Tagged hits against untagged ones: every round runs each variant for roundMs, back to back, starting
 * with a different variant each round (so none always follows the same one), and the ratio of a round is
 * variant / untagged of that round.
 */
export async function tagsHits(cache: CacheUnderTest, request: TagsHitsRequest): Promise<TagsHitsResult> {
  const tags = tagged(cache);
  const callers = Array.from({ length: request.callers }, (_, i) => i);
  const keys: string[] = [];
  for (let v = 0; v < TAG_VARIANTS.length; v++) {
    const count = TAG_VARIANTS[v].tags;
    await Promise.all(callers.map((i) => tags.getOrSet(variantKey(request.callers, v, i), async () => HIT_VALUE, tagsFor(count, i))));
    for (const i of callers) keys.push(variantKey(request.callers, v, i));
  }
  const call = (v: number) => {
    const count = TAG_VARIANTS[v].tags;
    return (i: number) => tags.getOrSet(variantKey(request.callers, v, i), expectHit, tagsFor(count, i));
  };
  const calls = TAG_VARIANTS.map((_, v) => call(v));
  if (cache.watchHits) {
    // A memory tier keeps only what it read once its invalidations are proven to arrive: let that
    // happen, then read every key again so the tier holds them (as the hits phase does).
    await sleep(150);
    for (const each of calls) await Promise.all(callers.map(each));
  }
  for (const each of calls) await measure(each, callers, request.warmupMs, undefined);
  const variants: TagsHitsSide[] = TAG_VARIANTS.map(() => ({ opsPerSec: [], latenciesUs: [] }));
  for (let round = 0; round < request.rounds; round++) {
    for (let k = 0; k < TAG_VARIANTS.length; k++) {
      const v = (round + k) % TAG_VARIANTS.length;
      await measure(calls[v], callers, request.roundMs, variants[v]);
    }
  }
  let tiers: TagsHitsResult['tiers'];
  if (cache.watchHits) {
    tiers = [];
    for (const each of calls) {
      const counted = { memory: 0, redis: 0 };
      const stop = cache.watchHits((tier) => counted[tier]++);
      try {
        await Promise.all(callers.map(each));
      } finally {
        stop();
      }
      tiers.push(counted);
    }
  }
  return { variants, tiers, keys };
}

export interface TagsPassRequest {
  callers: number;
  /** Index in TAG_VARIANTS. */
  variant: number;
  passes: number;
}

/** Every caller hits its key of the variant `passes` times, one after another (the parent counts the commands). */
export async function tagsPass(cache: CacheUnderTest, request: TagsPassRequest): Promise<number> {
  const tags = tagged(cache);
  const count = TAG_VARIANTS[request.variant].tags;
  await Promise.all(
    Array.from({ length: request.callers }, async (_, i) => {
      for (let p = 0; p < request.passes; p++) await tags.getOrSet(variantKey(request.callers, request.variant, i), expectHit, tagsFor(count, i));
    }),
  );
  return request.callers * request.passes;
}

/**
 * Every caller calls back to back for `ms`; throughput counts the calls completed in that time, pushed
 * into `into` with a sample of latencies. Returns the calls made.
 */
export async function measure(call: (caller: number) => Promise<unknown>, callers: number[], ms: number, into: TagsHitsSide | undefined): Promise<number> {
  const latencies: number[] = [];
  const started = performance.now();
  const until = started + ms;
  await Promise.all(
    callers.map(async (i) => {
      for (let now = performance.now(); now < until; ) {
        await call(i);
        const end = performance.now();
        latencies.push((end - now) * 1000);
        now = end;
      }
    }),
  );
  const elapsed = performance.now() - started;
  if (!into) return latencies.length;
  into.opsPerSec.push((latencies.length * 1000) / elapsed);
  // A sample of latencies: enough for p99 without shipping every one over IPC.
  const step = Math.max(1, Math.floor(latencies.length / 4000));
  for (let i = 0; i < latencies.length; i += step) into.latenciesUs.push(latencies[i]);
  return latencies.length;
}

export interface TagsFillRequest {
  /** Keys <tag>:<from> ... <tag>:<from + count - 1>, each tagged `tag`. */
  from: number;
  count: number;
  tag: string;
  /** Sets in flight at once. */
  concurrency: number;
  /**
   * At checkAtMs into the fill, if the whole fill would take longer than limitMs at the rate so far, it
   * stops there: the entries written by then are the N measured.
   */
  checkAtMs: number;
  limitMs: number;
}

export interface TagsFillResult {
  filled: number;
  ms: number;
  /** After the fill, until the event loop was calm (the subscriber has read what every set published). */
  settleMs: number;
  /** The fill stopped at checkAtMs: finishing would have taken about projectedMs. */
  stoppedEarly: boolean;
  projectedMs: number | undefined;
}

declare const gc: (() => void) | undefined;

/** Writes the entries through the cache's own set, `concurrency` at a time; then collects garbage, so timing starts clean. */
export async function tagsFill(cache: CacheUnderTest, request: TagsFillRequest): Promise<TagsFillResult> {
  const tags = tagged(cache);
  const value = { ...HIT_VALUE };
  const started = performance.now();
  const end = request.from + request.count;
  let next = request.from;
  let stop = false;
  let projectedMs: number | undefined;
  let checked = false;
  await Promise.all(
    Array.from({ length: Math.min(request.concurrency, request.count) }, async () => {
      while (!stop && next < end) {
        const i = next++;
        await tags.set(`${request.tag}:${i}`, value, [request.tag]);
        if (!checked && performance.now() - started >= request.checkAtMs) {
          checked = true;
          const done = next - request.from;
          projectedMs = ((performance.now() - started) * request.count) / done;
          if (projectedMs > request.limitMs) stop = true;
        }
      }
    }),
  );
  const ms = performance.now() - started;
  const settleMs = await calm();
  if (typeof gc === 'function') {
    gc();
    await sleep(10);
    gc();
  }
  // With `stop`, keys up to `next` were started and all have been awaited.
  return { filled: next - request.from, ms, settleMs, stoppedEarly: stop, projectedMs };
}

/**
 * Waits until 5 timers of 20 ms in a row fire less than 3 ms late (at most 15 s): every set published a
 * message that this process's own subscriber reads, and after a large fill it may still be reading them,
 * which would be timed as the invalidations' cost.
 */
async function calm(): Promise<number> {
  const started = performance.now();
  for (let calmInARow = 0; calmInARow < 5 && performance.now() - started < 15_000; ) {
    const before = performance.now();
    await sleep(20);
    calmInARow = performance.now() - before < 23 ? calmInARow + 1 : 0;
  }
  return performance.now() - started;
}

export interface TagsInvalidateRequest {
  /** Call i invalidates [tags[i % tags.length]]: one tag, or tags taken in turn. */
  tags: string[];
  times: number;
}

/** invalidate([tag]) `times` times, one after another; each call's latency in us, by tag. */
export async function tagsInvalidate(cache: CacheUnderTest, request: TagsInvalidateRequest): Promise<Record<string, number[]>> {
  const tags = tagged(cache);
  const latencies: Record<string, number[]> = Object.fromEntries(request.tags.map((tag) => [tag, []]));
  for (let i = 0; i < request.times; i++) {
    const tag = request.tags[i % request.tags.length];
    const started = performance.now();
    await tags.invalidate([tag]);
    latencies[tag].push((performance.now() - started) * 1000);
  }
  return latencies;
}

export interface TagsCheckRequest {
  /** Entries of the invalidated tag: none may be served. */
  invalidated: string[];
  /** Entries of other tags (the hits' keys): every one must still hit. */
  untouched: string[];
}

export interface TagsCheckResult {
  /** Invalidated entries still returned as fresh (0 expected). */
  stillServed: number;
  /** Untouched entries that hit (all expected); the others ran their function or failed. */
  stillHit: number;
}

export async function tagsCheck(cache: CacheUnderTest, request: TagsCheckRequest): Promise<TagsCheckResult> {
  const tags = tagged(cache);
  const served = await Promise.all(request.invalidated.map((key) => tags.peek(key)));
  const hit = await Promise.all(request.untouched.map((key) => cache.getOrSet(key, expectHit).then(() => true, () => false)));
  return { stillServed: served.filter((v) => v !== undefined && v !== null).length, stillHit: hit.filter(Boolean).length };
}

export interface TagsRereadPrepareRequest {
  url: string;
  /** Keys rr:0 ... rr:<keys - 1>, key i tagged t:i. */
  keys: number;
  /** The cache has a memory tier: steady means its hits send nothing at all, not one GET each. */
  memoryTier: boolean;
  timeoutMs: number;
}

/** One pass over every key: when (epoch ms), what it sent, and calls that failed. */
export interface RereadPass {
  startedAt: number;
  endedAt: number;
  /** tag-version reads (EVALSHA of its sha), and of how many distinct tags. */
  reads: number;
  distinct: number;
  /** Reads of the epoch, which every entry carries: one per batch of reads (per microtask) that needed it. */
  epochReads: number;
  /** Reads of a tag other than the epoch beyond its first in the pass (0 expected: one read per tag). */
  duplicates: number;
  gets: number;
  failed: number;
}

export interface TagsRereadPrepareResult {
  /** The passes after the fill until steady (none read if every version was kept when the entries were written). */
  warm: RereadPass[];
  /** The steady pass the kill interrupts: its GETs per hit (1 without a memory tier, 0 with one). */
  steadyGetsPerHit: number;
}

export interface TagsRereadRunRequest {
  timeoutMs: number;
}

export interface TagsRereadRunResult {
  passes: RereadPass[];
  /** Every command the passes sent, by name (evalsha split by script). */
  commands: Record<string, number>;
  /** When (epoch ms, Redis's clock) the subscriber subscribed again, and every PUBLISH (the channel's echoes). */
  subscribedAt: number[];
  publishedAt: number[];
  /** A pass as the steady one before the kill (no read, as many GETs) came after a pass with reads; else timed out. */
  steady: boolean;
}

const epochNow = () => performance.timeOrigin + performance.now();
const READ_SHA = readVersion.sha;
let feed: CommandFeed | undefined;
let rereadKeys: string[] = [];
let steadyGets = 0;

function label(sent: Sent): string {
  if (sent.name !== 'evalsha') return sent.name;
  return sent.args[0]?.toLowerCase() === READ_SHA ? 'evalsha tag-version' : `evalsha ${sent.args[0]?.slice(0, 8) ?? '?'}`;
}

/** Every key hit once, all at once; then what the pass sent, from MONITOR. */
async function pass(cache: CacheUnderTest, seen?: (sent: Sent, name: string) => void): Promise<RereadPass> {
  const startedAt = epochNow();
  const answered = await Promise.all(rereadKeys.map((key) => cache.getOrSet(key, expectHit).then(() => true, () => false)));
  const endedAt = epochNow();
  const sent = await feed!.take();
  const counts = { reads: 0, distinct: 0, epochReads: 0, duplicates: 0, gets: 0 };
  const tags = new Set<string>();
  for (const s of sent) {
    const name = label(s);
    seen?.(s, name);
    if (name === 'get') counts.gets++;
    if (name !== 'evalsha tag-version') continue;
    counts.reads++;
    // EVALSHA <sha> 1 <tag key> <version>
    const key = s.args[2] ?? '';
    if (key.endsWith(':epoch')) counts.epochReads++;
    else if (tags.has(key)) counts.duplicates++;
    tags.add(key);
  }
  counts.distinct = tags.size;
  return { startedAt, endedAt, ...counts, failed: answered.filter((ok) => !ok).length };
}

/**
 * K entries, one tag each, written through the cache, then passes over them until one sends no
 * tag-version read (and, with a memory tier, no GET): the channel is trusted and every tag's version is
 * kept. MONITOR stays on for reread-run.
 */
export async function tagsRereadPrepare(cache: CacheUnderTest, request: TagsRereadPrepareRequest): Promise<TagsRereadPrepareResult> {
  const tags = tagged(cache);
  feed?.stop();
  feed = await CommandFeed.start(request.url);
  rereadKeys = Array.from({ length: request.keys }, (_, i) => `rr:${i}`);
  await Promise.all(rereadKeys.map((key, i) => tags.getOrSet(key, async () => HIT_VALUE, [`t:${i}`])));
  await feed.take();
  const warm: RereadPass[] = [];
  const until = Date.now() + request.timeoutMs;
  for (;;) {
    const p = await pass(cache);
    warm.push(p);
    if (p.reads === 0 && p.failed === 0 && (!request.memoryTier || p.gets === 0)) break;
    if (Date.now() > until) throw new Error(`no steady pass (no tag-version read${request.memoryTier ? ', no GET' : ''}) within ${request.timeoutMs} ms of the fill`);
    // A memory tier is filled only once its subscription is proven: give the echo a moment between passes.
    await sleep(20);
  }
  steadyGets = warm[warm.length - 1].gets;
  return { warm, steadyGetsPerHit: steadyGets / request.keys };
}

/** After the kill: pass after pass, back to back, until a steady pass (as before the kill) follows one with reads. */
export async function tagsRereadRun(cache: CacheUnderTest, request: TagsRereadRunRequest): Promise<TagsRereadRunResult> {
  const passes: RereadPass[] = [];
  const commands: Record<string, number> = {};
  const subscribedAt: number[] = [];
  const publishedAt: number[] = [];
  const seen = (sent: Sent, name: string) => {
    commands[name] = (commands[name] ?? 0) + 1;
    if (name === 'subscribe') subscribedAt.push(sent.at);
    if (name === 'publish') publishedAt.push(sent.at);
  };
  const until = Date.now() + request.timeoutMs;
  let read = false;
  let steady = false;
  try {
    while (Date.now() < until) {
      const p = await pass(cache, seen);
      passes.push(p);
      if (p.reads > 0) read = true;
      else if (read && p.failed === 0 && p.gets <= steadyGets) {
        steady = true;
        break;
      }
    }
  } finally {
    feed?.stop();
    feed = undefined;
  }
  return { passes, commands, subscribedAt, publishedAt, steady };
}
