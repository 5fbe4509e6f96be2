import type { Request, Worker } from '../lib/fleet';
import { performance } from 'node:perf_hooks';
import { commandCounts, commandsBetween, type AdminClient } from '../lib/redis';
import { median, percentile, round } from '../lib/stats';
import { isHerdless } from '../strategies';
import { herdlessL1 } from '../strategies/herdless';
import type { Strategy } from '../strategies/strategy';
import {
  TAG_VARIANTS,
  type TagsCheckResult,
  type TagsFillResult,
  type TagsHitsResult,
  type TagsRereadPrepareResult,
  type TagsRereadRunResult,
} from '../worker/tags';

export interface TagsOptions {
  url: string;
  /** Hits: concurrent callers of each scenario, each on its own key (32: CPU bound; 1: round-trip bound). */
  callers: number[];
  roundMs: number;
  rounds: number;
  /** Invalidation: entries tagged 'big' of the large fill (the small one has 1), and invalidations timed per size. */
  entries: number;
  invalidations: number;
  /** Sets in flight while filling. */
  fillConcurrency: number;
  /** Re-read: tags known to the cache (one entry each). */
  rereadTags: number;
}

/** One variant of one hits scenario: its throughput against the untagged entries of the same rounds. */
export interface TagHitsRow {
  strategy: string;
  callers: number;
  variant: string;
  /** Tags per entry; null: no tags option at all (the baseline). */
  tags: number | null;
  opsPerSec: number;
  untaggedOpsPerSec: number;
  /** Median over rounds of this variant / untagged, each round running every variant back to back. */
  ratio: number;
  /** The worst round's ratio. */
  minRatio: number;
  p50Us: number;
  p99Us: number;
  /** Share of hits from memory in one pass after the rounds (caches that report it). */
  memoryHitShare: number | undefined;
  /** Redis commands per hit (INFO commandstats over 10 hits per caller after the rounds, those inside scripts included). */
  commandsPerHit: Record<string, number>;
}

/** invalidateTags(['big']) timed with `entries` entries carrying 'big' (and the hits' entries, untouched). */
export interface TagInvalidationRow {
  strategy: string;
  /** Entries asked for, and written (fewer if the fill would not fit in time: fillStoppedEarly). */
  requested: number;
  entries: number;
  fillMs: number;
  /** Sets per second while filling. */
  fillPerSec: number;
  fillStoppedEarly: boolean;
  /** After the fill, until the worker's event loop was calm (its subscriber had read every set's message). */
  settleMs: number;
  /** The subscriber connection was replaced during the fill (Redis closes one whose output buffer overflows). */
  subscriberDropped: boolean;
  /** When it stopped early: how long the whole fill would have taken at its rate. */
  fillProjectedMs: number | undefined;
  /** Redis used_memory before and after the fill (INFO memory). */
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  /** Keys in Redis after the fill (DBSIZE). */
  dbSize: number;
  invalidations: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  /**
   * With more than one entry: invalidations of 'big' alternating, call by call, with those of a tag that
   * one entry carries, so both see the same machine: p50 of each (the goal compares these two).
   */
  interleaved: { p50Us: number; oneEntryP50Us: number } | undefined;
  /** Every command Redis ran over the timed invalidations (INFO commandstats, those inside scripts included), per invalidation. */
  commandsPerCall: Record<string, number>;
  /** Calls of SCAN, KEYS, DEL and UNLINK over the timed invalidations: 0 expected (no entry is visited). */
  scanCalls: number;
  keysCalls: number;
  deleteCalls: number;
  /** Of `sampled` entries tagged 'big', how many were still served after the invalidations (0 expected). */
  sampled: number;
  stillServed: number;
  /** Of the hits' entries (other tags), how many still hit (all expected). */
  untouched: number;
  stillHit: number;
}

/** After CLIENT KILL TYPE pubsub: what the cache re-read before its hits were steady again. */
export interface TagRereadRow {
  strategy: string;
  /** Tags known to the cache, one entry each; the epoch, which every entry carries, comes on top. */
  tags: number;
  /** Subscriber connections the kill closed. */
  killed: number;
  /** Of the pass the kill interrupts: GETs per hit (1 without a memory tier, 0 with one). */
  steadyGetsPerHit: number;
  /** Passes over every key (all at once, back to back) from the kill until a steady one followed one with reads. */
  passes: number;
  /** Passes that sent tag-version reads. */
  readPasses: number;
  /** tag-version reads (EVALSHA of its sha, from MONITOR) over all passes. */
  reads: number;
  /** reads / (tags + 1), the epoch counted as a tag. */
  readsPerTag: number;
  /** The most reads in one pass, and the most distinct tags among them. */
  maxReadsPerPass: number;
  maxDistinctPerPass: number;
  /** The most reads of the epoch in one pass: the batches (one per turn of the event loop) its reads went out in. */
  maxBatchesPerPass: number;
  /** Reads of a tag (not the epoch) beyond its first in a pass, summed over passes: 0 expected. */
  duplicates: number;
  /** ms after the kill (Redis's clock for the first two): the subscriber subscribed again; the first echo (PUBLISH) after that. */
  resubscribedAtMs: number | undefined;
  echoAtMs: number | undefined;
  /** ms after the kill: the first pass with reads began; the last one with reads ended; the first steady pass after them ended. */
  firstReadPassAtMs: number | undefined;
  readsEndedAtMs: number | undefined;
  steadyAtMs: number | undefined;
  /** GETs per hit of the last pass (as steadyGetsPerHit, once steady). */
  getsPerHitAfter: number;
  steady: boolean;
  failed: number;
  /** Every command the passes sent, by name (evalsha by script). */
  commands: Record<string, number>;
  /** Each pass: ms after the kill it ended, its reads and GETs. */
  timeline: { endMs: number; reads: number; gets: number }[];
  error: string | undefined;
}

export interface TagsResult {
  callers: number[];
  roundMs: number;
  rounds: number;
  hits: TagHitsRow[];
  invalidation: TagInvalidationRow[];
  reread: TagRereadRow[];
  /** How each strategy uses its tags. */
  setups: { strategy: string; setup: string }[];
}

/** How long a fill may run before it is judged: past limitMs projected, it stops at checkAtMs. */
const FILL_CHECK_MS = 60_000;
const FILL_LIMIT_MS = 120_000;
/** Strategies whose invalidations are timed: one per cache, a memory tier changes nothing an invalidation writes. */
const INVALIDATING = ['herdless', 'bentocache'];

/**
 * The tags phase, one worker, strategy after strategy (each on an emptied Redis): tagged hits against
 * untagged ones (worker/tags.ts); for one cache per library, invalidateTags with 1 and N tagged entries,
 * with the commands Redis ran; for herdless, the versions it re-reads after its subscriber is killed.
 */
export async function runTags(admin: AdminClient, worker: Worker, strategies: readonly Strategy[], options: TagsOptions, log: (line: string) => void): Promise<TagsResult> {
  const result: TagsResult = { callers: options.callers, roundMs: options.roundMs, rounds: options.rounds, hits: [], invalidation: [], reread: [], setups: [] };
  for (const strategy of strategies) {
    result.setups.push({ strategy: strategy.name, setup: strategy.tagSetup ?? strategy.setup });
    await admin.flushAll();
    const open: Request = { type: 'open', strategy: strategy.name, options: { url: options.url, namespace: `tags-${strategy.name}`, ttlMs: 600_000 } };
    await worker.request(open);
    try {
      const untouched: string[] = [];
      for (const callers of options.callers) {
        const measured = await worker.request<TagsHitsResult>({ type: 'tags-hits', callers, roundMs: options.roundMs, rounds: options.rounds, warmupMs: options.roundMs });
        untouched.push(...measured.keys);
        const rows = hitRows(strategy.name, callers, measured);
        for (let v = 0; v < rows.length; v++) rows[v].commandsPerHit = await commandsPerHit(admin, worker, callers, v);
        result.hits.push(...rows);
        log(
          `tags  ${strategy.name.padEnd(14)} ${callers === 1 ? '1 caller' : `${callers} callers, own keys`}: ${rows.map((r) => `${r.variant} ${r.opsPerSec}/s${r.tags === null ? '' : ` ${r.ratio}x (worst ${r.minRatio}x)`}`).join(', ')}; ` +
            `per hit ${rows.map((r) => commandText(r.commandsPerHit)).join(' / ')}`,
        );
      }
      if (INVALIDATING.includes(strategy.name)) {
        let from = 0;
        for (const requested of [1, options.entries]) {
          const row = await invalidation(admin, worker, strategy.name, requested, from, untouched, options);
          from += row.entries;
          result.invalidation.push(row);
          log(
            `tags  ${strategy.name.padEnd(14)} invalidateTags with ${row.entries.toLocaleString('en-US')} tagged entries${row.fillStoppedEarly ? ` (of ${requested.toLocaleString('en-US')} asked: the fill would have taken ${round((row.fillProjectedMs ?? 0) / 1000)} s)` : ''}: ` +
              `fill ${round(row.fillMs / 1000, 2)} s (${row.fillPerSec}/s, settled in ${row.settleMs} ms${row.subscriberDropped ? ', SUBSCRIBER DROPPED' : ''}), Redis ${mib(row.usedMemoryAfter)}; p50 ${row.p50Us} us, p99 ${row.p99Us} us${row.interleaved ? ` (in turn with a 1-entry tag: p50 ${row.interleaved.p50Us} vs ${row.interleaved.oneEntryP50Us} us)` : ''}; per call ${commandText(row.commandsPerCall)}; ` +
              `scan ${row.scanCalls}, keys ${row.keysCalls}, del/unlink ${row.deleteCalls}; still served ${row.stillServed}/${row.sampled}, untouched hits ${row.stillHit}/${row.untouched}`,
          );
        }
      }
    } finally {
      await worker.request({ type: 'close' });
      // A large fill is no use to anything after this row.
      await admin.flushAll();
    }
    if (isHerdless(strategy.name)) {
      const row = await reread(admin, worker, open, strategy.name, strategy.name === herdlessL1.name, options);
      result.reread.push(row);
      log(
        row.error
          ? `tags  ${strategy.name.padEnd(14)} re-read after CLIENT KILL TYPE pubsub could not run: ${row.error}`
          : `tags  ${strategy.name.padEnd(14)} re-read after CLIENT KILL TYPE pubsub (${row.killed} closed), ${row.tags} tags + epoch: ${row.reads} tag-version reads in ${row.readPasses} of ${row.passes} passes = ${row.readsPerTag} per tag ` +
              `(most in a pass ${row.maxReadsPerPass}, ${row.maxDistinctPerPass} distinct, ${row.maxBatchesPerPass} batches; ${row.duplicates} repeated); resubscribed ${num(row.resubscribedAtMs)} ms, echo ${num(row.echoAtMs)} ms, ` +
              `reads ended ${num(row.readsEndedAtMs)} ms, steady ${num(row.steadyAtMs)} ms after the kill, then ${row.getsPerHitAfter} GET per hit${row.steady ? '' : ' (NOT steady)'}`,
      );
    }
  }
  return result;
}

function hitRows(strategy: string, callers: number, measured: TagsHitsResult): TagHitsRow[] {
  const untagged = measured.variants[0].opsPerSec;
  return TAG_VARIANTS.map((variant, v) => {
    const side = measured.variants[v];
    const ratios = side.opsPerSec.map((ops, i) => ops / untagged[i]);
    const tiers = measured.tiers?.[v];
    return {
      strategy,
      callers,
      variant: variant.name,
      tags: variant.tags ?? null,
      opsPerSec: Math.round(median(side.opsPerSec)),
      untaggedOpsPerSec: Math.round(median(untagged)),
      ratio: round(median(ratios), 3),
      minRatio: round(Math.min(...ratios), 3),
      p50Us: round(percentile(side.latenciesUs, 50)),
      p99Us: round(percentile(side.latenciesUs, 99)),
      memoryHitShare: tiers && tiers.memory + tiers.redis > 0 ? round(tiers.memory / (tiers.memory + tiers.redis), 3) : undefined,
      commandsPerHit: {},
    };
  });
}

/** What Redis runs for one hit of a variant: INFO commandstats around 10 hits per caller. */
async function commandsPerHit(admin: AdminClient, worker: Worker, callers: number, variant: number): Promise<Record<string, number>> {
  const before = await commandCounts(admin);
  const hits = await worker.request<number>({ type: 'tags-pass', callers, variant, passes: 10 });
  const delta = commandsBetween(before, await commandCounts(admin));
  const perHit: Record<string, number> = {};
  for (const [name, calls] of [...delta].sort((a, b) => b[1] - a[1])) perHit[name] = round(calls / hits, 3);
  return perHit;
}

async function usedMemory(admin: AdminClient): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1] ?? NaN);
}

/** The ids of the subscriber connections (CLIENT LIST TYPE pubsub). */
async function subscribers(admin: AdminClient): Promise<string[]> {
  const list = String(await admin.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']));
  return [...list.matchAll(/(?:^|\s)id=(\d+)/g)].map(([, id]) => id);
}

/** Fill `requested` entries tagged 'big' (keys from `from` on), then time invalidateTags(['big']) and count what Redis ran. */
async function invalidation(admin: AdminClient, worker: Worker, strategy: string, requested: number, from: number, untouched: string[], options: TagsOptions): Promise<TagInvalidationRow> {
  const usedMemoryBefore = await usedMemory(admin);
  const subscribersBefore = await subscribers(admin);
  const fill = await worker.request<TagsFillResult>({ type: 'tags-fill', from, count: requested, tag: 'big', concurrency: options.fillConcurrency, checkAtMs: FILL_CHECK_MS, limitMs: FILL_LIMIT_MS });
  const usedMemoryAfter = await usedMemory(admin);
  const dbSize = await admin.dbSize();
  const subscribersAfter = await subscribers(admin);
  // Warm: the script cache, the connection, the code path.
  await worker.request({ type: 'tags-invalidate', tags: ['big'], times: 20 });
  const before = await commandCounts(admin);
  const latencies = (await worker.request<Record<string, number[]>>({ type: 'tags-invalidate', tags: ['big'], times: options.invalidations })).big;
  const after = await commandCounts(admin);
  const delta = commandsBetween(before, after);
  const commandsPerCall: Record<string, number> = {};
  for (const [name, calls] of [...delta].sort((a, b) => b[1] - a[1])) commandsPerCall[name] = round(calls / options.invalidations, 3);
  let interleaved: TagInvalidationRow['interleaved'];
  if (fill.filled > 1) {
    // The same machine for both: a tag one entry carries, invalidated in turn with 'big'.
    await worker.request({ type: 'tags-fill', from: 0, count: 1, tag: 'one', concurrency: 1, checkAtMs: FILL_CHECK_MS, limitMs: FILL_LIMIT_MS });
    const pairs = await worker.request<Record<string, number[]>>({ type: 'tags-invalidate', tags: ['big', 'one'], times: 2 * options.invalidations });
    interleaved = { p50Us: round(percentile(pairs.big, 50)), oneEntryP50Us: round(percentile(pairs.one, 50)) };
  }
  const step = Math.max(1, Math.floor(fill.filled / 100));
  const invalidated: string[] = [];
  for (let i = 0; i < fill.filled; i += step) invalidated.push(`big:${from + i}`);
  const check = await worker.request<TagsCheckResult>({ type: 'tags-check', invalidated, untouched });
  return {
    strategy,
    requested,
    entries: fill.filled,
    fillMs: Math.round(fill.ms),
    fillPerSec: Math.round((fill.filled * 1000) / fill.ms),
    fillStoppedEarly: fill.stoppedEarly,
    settleMs: Math.round(fill.settleMs),
    subscriberDropped: subscribersBefore.some((id) => !subscribersAfter.includes(id)),
    fillProjectedMs: fill.stoppedEarly ? Math.round(fill.projectedMs ?? 0) : undefined,
    usedMemoryBefore,
    usedMemoryAfter,
    dbSize,
    invalidations: options.invalidations,
    p50Us: round(percentile(latencies, 50)),
    p99Us: round(percentile(latencies, 99)),
    maxUs: round(Math.max(...latencies)),
    interleaved,
    commandsPerCall,
    scanCalls: delta.get('scan') ?? 0,
    keysCalls: delta.get('keys') ?? 0,
    deleteCalls: (delta.get('del') ?? 0) + (delta.get('unlink') ?? 0),
    sampled: invalidated.length,
    stillServed: check.stillServed,
    untouched: untouched.length,
    stillHit: check.stillHit,
  };
}

/**
 * A fresh cache knowing `rereadTags` tags, steady (a pass over its keys sends no tag-version read); then
 * its subscriber connection is killed, and its keys are hit pass after pass until one sends no read again.
 */
async function reread(admin: AdminClient, worker: Worker, open: Request, strategy: string, memoryTier: boolean, options: TagsOptions): Promise<TagRereadRow> {
  const empty: TagRereadRow = {
    strategy,
    tags: options.rereadTags,
    killed: 0,
    steadyGetsPerHit: NaN,
    passes: 0,
    readPasses: 0,
    reads: 0,
    readsPerTag: NaN,
    maxReadsPerPass: 0,
    maxDistinctPerPass: 0,
    maxBatchesPerPass: 0,
    duplicates: 0,
    resubscribedAtMs: undefined,
    echoAtMs: undefined,
    firstReadPassAtMs: undefined,
    readsEndedAtMs: undefined,
    steadyAtMs: undefined,
    getsPerHitAfter: NaN,
    steady: false,
    failed: 0,
    commands: {},
    timeline: [],
    error: undefined,
  };
  await worker.request(open);
  try {
    const prepared = await worker.request<TagsRereadPrepareResult>({ type: 'tags-reread-prepare', url: options.url, keys: options.rereadTags, memoryTier, timeoutMs: 10_000 });
    const killed = Number(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']));
    const killedAt = performance.timeOrigin + performance.now();
    const run = await worker.request<TagsRereadRunResult>({ type: 'tags-reread-run', timeoutMs: 10_000 });
    return summarizeReread(empty, prepared, run, killed, killedAt, options.rereadTags);
  } catch (error) {
    return { ...empty, error: String((error as Error)?.message ?? error).split('\n')[0] };
  } finally {
    await worker.request({ type: 'close' });
    await admin.flushAll();
  }
}

function summarizeReread(empty: TagRereadRow, prepared: TagsRereadPrepareResult, run: TagsRereadRunResult, killed: number, killedAt: number, tags: number): TagRereadRow {
  const passes = run.passes;
  const at = (t: number) => round(t - killedAt, 1);
  const reading = passes.filter((p) => p.reads > 0);
  const lastReading = reading[reading.length - 1];
  const reads = reading.reduce((n, p) => n + p.reads, 0);
  const last = passes[passes.length - 1];
  // The feed was emptied before the kill, so its first SUBSCRIBE is the reconnected subscriber's (it can
  // show a little before killedAt, which is taken once the kill's reply is read).
  const resubscribedAt = run.subscribedAt[0];
  const echoAt = resubscribedAt === undefined ? undefined : run.publishedAt.find((t) => t >= resubscribedAt);
  return {
    ...empty,
    killed,
    steadyGetsPerHit: round(prepared.steadyGetsPerHit, 3),
    passes: passes.length,
    readPasses: reading.length,
    reads,
    readsPerTag: round(reads / (tags + 1), 2),
    maxReadsPerPass: Math.max(0, ...passes.map((p) => p.reads)),
    maxDistinctPerPass: Math.max(0, ...passes.map((p) => p.distinct)),
    maxBatchesPerPass: Math.max(0, ...passes.map((p) => p.epochReads)),
    duplicates: passes.reduce((n, p) => n + p.duplicates, 0),
    resubscribedAtMs: resubscribedAt === undefined ? undefined : at(resubscribedAt),
    echoAtMs: echoAt === undefined ? undefined : at(echoAt),
    firstReadPassAtMs: reading.length ? at(reading[0].startedAt) : undefined,
    readsEndedAtMs: lastReading ? at(lastReading.endedAt) : undefined,
    steadyAtMs: run.steady ? at(last.endedAt) : undefined,
    getsPerHitAfter: last ? round(last.gets / tags, 3) : NaN,
    steady: run.steady,
    failed: passes.reduce((n, p) => n + p.failed, 0),
    commands: run.commands,
    timeline: passes.map((p) => ({ endMs: at(p.endedAt), reads: p.reads, gets: p.gets })),
  };
}

/** The issue's goal for tagged hits: at least this share of the untagged throughput (within 5%). */
export const TAG_HIT_GOAL = 0.95;
/** invalidateTags "costs the same" at N entries: the same commands per call, and p50 within this factor of p50 at 1 entry. */
export const INVALIDATION_P50_FACTOR = 1.5;

/** A scenario's rows (untagged first) meet the hit goal: every tagged variant's median ratio at least TAG_HIT_GOAL. */
export function hitsMeetGoal(rows: readonly TagHitsRow[]): boolean {
  return rows.filter((r) => r.tags !== null).every((r) => r.ratio >= TAG_HIT_GOAL);
}

/**
 * One strategy's invalidation rows: the same commands per call at every size, none visiting entries, and
 * the largest's p50 within the factor of a one-entry tag's (interleaved with it, else the smallest row's).
 */
export function invalidationsMatch(rows: readonly TagInvalidationRow[]): boolean {
  if (rows.length < 2) return false;
  const sorted = [...rows].sort((a, b) => a.entries - b.entries);
  const small = sorted[0];
  const large = sorted[sorted.length - 1];
  const same = (a: Record<string, number>, b: Record<string, number>) => {
    // The channel's echo (a PUBLISH a second) may land in either window; every other command must match.
    const names = new Set([...Object.keys(a), ...Object.keys(b)].filter((n) => n !== 'publish'));
    return [...names].every((n) => a[n] === b[n]) && Math.abs((a.publish ?? 0) - (b.publish ?? 0)) <= 0.05;
  };
  // Latency: measured interleaved with a one-entry tag where it was (the same machine for both), else the small row's.
  const p50 = large.interleaved ? large.interleaved.p50Us <= INVALIDATION_P50_FACTOR * large.interleaved.oneEntryP50Us : large.p50Us <= INVALIDATION_P50_FACTOR * small.p50Us;
  return sorted.every((r) => r.scanCalls + r.keysCalls + r.deleteCalls === 0 && same(r.commandsPerCall, small.commandsPerCall)) && p50;
}

export function commandText(commands: Record<string, number>): string {
  const entries = Object.entries(commands);
  return entries.length ? entries.map(([name, n]) => `${n} ${name}`).join(', ') : 'none';
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function num(v: number | undefined): string {
  return v === undefined ? '-' : String(v);
}
