import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { count, histogramMax, histogramPercentile, merge, round } from '../lib/stats';
import { sleep } from '../lib/time';
import type { Strategy } from '../strategies/strategy';
import type { CoherenceReadRequest, CoherenceReadResult, CoherenceWriteRequest, StaleExample, SubPhaseJudgement, WriteLog } from '../worker/coherence';

export const SUB_PHASES = ['steady', 'bus killed', 'after'] as const;

export interface CoherenceOptions {
  url: string;
  /** Reader processes; one more process writes. */
  readers: number;
  /** Lanes per reader, each reading back to back. */
  lanes: number;
  keys: number;
  /** Length of the steady and after sub-phases; the bus-killed one is 1.5 times as long (see below). */
  phaseMs: number;
  /** One write every this many ms. */
  writeEveryMs: number;
  /** A read is stale if it started more than this long after a newer write of its key had completed. */
  staleAfterMs: number;
}

export interface CoherenceSubPhase {
  name: (typeof SUB_PHASES)[number];
  /** Where it starts and ends, ms from the start of the run. */
  fromMs: number;
  toMs: number;
  reads: number;
  /** Reads per second, all readers together. */
  readsPerSec: number;
  readP50Ms: number | undefined;
  readP99Ms: number | undefined;
  /** Reads that returned an older version than a write of their key completed more than staleAfterMs before they started. */
  stale: number;
  /** Staleness of those reads (10 ms steps): read start minus the completion of the first newer write. */
  staleP50Ms: number | undefined;
  staleP99Ms: number | undefined;
  maxStaleMs: number | undefined;
  /** Stale reads answered from memory within the call (herdless-l1 reports such a hit before getOrSet returns). */
  staleFromMemory: number;
  /**
   * Diagnostic, not the judgement: reads that would be stale judged from the moment getOrSet was called
   * instead of when the read was queued. The two differ only when a reader process stopped running
   * between the two (a busy machine): invalidations that arrived meanwhile were still unread.
   */
  staleAtCall: number;
  /** The first few stale reads of each reader (times in ms from the start of the run). */
  staleExamples: StaleExample[];
  /** The first few reads of each reader stale only when judged from the call (staleMs from the call). */
  staleAtCallExamples: StaleExample[];
  /** Of the hits in the sub-phase, the share served from memory (caches that report it). */
  memoryHitShare: number | undefined;
}

export interface CoherenceRow {
  strategy: string;
  setup: string;
  readers: number;
  lanes: number;
  keys: number;
  phaseMs: number;
  writeEveryMs: number;
  staleAfterMs: number;
  /** Why the row has no numbers (the strategy could not be opened or run), else undefined. */
  error: string | undefined;
  /** Completed writes (the seed of every key at version 0 not counted), and writes whose set rejected. */
  writes: number;
  failedWrites: number;
  /** Each CLIENT KILL TYPE pubsub: when (ms from the start) and how many connections it closed. */
  kills: { atMs: number; killed: number }[];
  /** Reads over the whole run, and per second. */
  reads: number;
  readsPerSec: number;
  stale: number;
  maxStaleMs: number | undefined;
  subPhases: CoherenceSubPhase[];
  /** Reads that rejected or never answered, and values without a version. */
  failedReads: number;
  unreadable: number;
  errors: string[];
}

/**
 * Timeline, from the start: steady for phaseMs (the bus intact); then the bus-killed sub-phase, 1.5
 * phaseMs long, with CLIENT KILL TYPE pubsub at a quarter and at three quarters of phaseMs into it; then
 * after, phaseMs long, starting 0.75 phaseMs after the last kill. Returns the epoch-ms bounds and kill times.
 */
export function timeline(startAt: number, phaseMs: number): { bounds: number[]; kills: number[] } {
  const killedFrom = startAt + phaseMs;
  const kills = [killedFrom + phaseMs / 4, killedFrom + (3 * phaseMs) / 4];
  const afterFrom = killedFrom + 1.5 * phaseMs;
  return { bounds: [startAt, killedFrom, afterFrom, afterFrom + phaseMs], kills };
}

/**
 * R readers and one writer per strategy: the readers call getOrSet on the keys back to back while the
 * writer updates them; stale reads are counted per sub-phase (see worker/coherence.ts).
 */
export async function runCoherence(admin: AdminClient, workers: Worker[], strategies: readonly Strategy[], options: CoherenceOptions, log: (line: string) => void): Promise<CoherenceRow[]> {
  if (workers.length < options.readers + 1) throw new Error(`the coherence phase needs ${options.readers + 1} workers; ${workers.length} were started`);
  const readers = workers.slice(0, options.readers);
  const writer = workers[options.readers];
  const fleet = [...readers, writer];
  const rows: CoherenceRow[] = [];
  for (const strategy of strategies) {
    await admin.flushAll();
    const keys = { url: options.url, dbPrefix: `coherence-db:${strategy.name}:`, keys: options.keys };
    let row: CoherenceRow;
    try {
      await Promise.all(fleet.map((w) => w.request({ type: 'open', strategy: strategy.name, options: { url: options.url, namespace: `coherence-${strategy.name}`, ttlMs: 600_000 } })));
      const seed = await writer.request<WriteLog>({ type: 'coherence-seed', ...keys });
      // The readers warm every key (twice, 150 ms apart) before the start.
      const startAt = Date.now() + 1000;
      const { bounds, kills } = timeline(startAt, options.phaseMs);
      const readRequest: CoherenceReadRequest = { ...keys, lanes: options.lanes, bounds };
      const writeRequest: CoherenceWriteRequest = { ...keys, everyMs: options.writeEveryMs, bounds };
      const reading = Promise.all(readers.map((w) => w.request<CoherenceReadResult>({ type: 'coherence-read', ...readRequest })));
      const writing = writer.request<WriteLog>({ type: 'coherence-write', ...writeRequest });
      // Either failing ends the row; the other is still awaited below, so nothing is left unhandled.
      reading.catch(() => undefined);
      writing.catch(() => undefined);
      const killed: { atMs: number; killed: number }[] = [];
      for (const at of kills) {
        await sleep(Math.max(0, at - Date.now()));
        const closed = await admin.sendCommand<number>(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
        killed.push({ atMs: Date.now() - startAt, killed: Number(closed) });
      }
      const [read, written] = await Promise.all([reading, writing]);
      const writes: WriteLog = {
        key: [...seed.key, ...written.key],
        version: [...seed.version, ...written.version],
        doneAt: [...seed.doneAt, ...written.doneAt],
        failed: written.failed,
        errors: written.errors,
      };
      const judged = await Promise.all(readers.map((w) => w.request<SubPhaseJudgement[]>({ type: 'coherence-judge', writes, bounds, staleAfterMs: options.staleAfterMs })));
      row = summarize(strategy, options, bounds, read, written, judged, killed);
    } catch (error) {
      row = { ...base(strategy, options), error: String((error as Error)?.message ?? error).split('\n')[0], writes: 0, failedWrites: 0, kills: [], reads: 0, readsPerSec: 0, stale: 0, maxStaleMs: undefined, subPhases: [], failedReads: 0, unreadable: 0, errors: [] };
    } finally {
      await Promise.all(fleet.map((w) => w.request({ type: 'close' }).catch(() => undefined)));
    }
    rows.push(row);
    log(
      row.error
        ? `coherence ${strategy.name.padEnd(18)} could not run: ${row.error}`
        : `coherence ${strategy.name.padEnd(18)} ${row.readsPerSec} reads/s, ${row.writes} writes; stale reads ${row.subPhases.map((p) => `${p.name} ${p.stale}`).join(', ')}; ` +
            `worst ${row.maxStaleMs === undefined ? '-' : `${round(row.maxStaleMs)} ms`}; killed ${row.kills.map((k) => k.killed).join(' + ')} subscriber connections; failed ${row.failedReads}`,
    );
  }
  return rows;
}

function base(strategy: Strategy, options: CoherenceOptions) {
  return {
    strategy: strategy.name,
    setup: strategy.setup,
    readers: options.readers,
    lanes: options.lanes,
    keys: options.keys,
    phaseMs: options.phaseMs,
    writeEveryMs: options.writeEveryMs,
    staleAfterMs: options.staleAfterMs,
  };
}

function summarize(
  strategy: Strategy,
  options: CoherenceOptions,
  bounds: number[],
  read: CoherenceReadResult[],
  written: WriteLog,
  judged: SubPhaseJudgement[][],
  kills: { atMs: number; killed: number }[],
): CoherenceRow {
  const subPhases: CoherenceSubPhase[] = SUB_PHASES.map((name, i) => {
    const each = judged.map((j) => j[i]);
    const latency = merge(each.map((j) => j.latencyMs));
    const stale = merge(each.map((j) => j.staleMs));
    const reads = each.reduce((n, j) => n + j.reads, 0);
    const tiers = read.every((r) => r.tiers) ? read.reduce((t, r) => ({ memory: t.memory + r.tiers![i].memory, redis: t.redis + r.tiers![i].redis }), { memory: 0, redis: 0 }) : undefined;
    const maxes = each.map((j) => j.maxStaleMs).filter((m): m is number => m !== undefined);
    return {
      name,
      fromMs: bounds[i] - bounds[0],
      toMs: bounds[i + 1] - bounds[0],
      reads,
      readsPerSec: Math.round((reads * 1000) / (bounds[i + 1] - bounds[i])),
      readP50Ms: count(latency) ? round(histogramPercentile(latency, 50), 2) : undefined,
      readP99Ms: count(latency) ? round(histogramPercentile(latency, 99), 2) : undefined,
      stale: each.reduce((n, j) => n + j.stale, 0),
      staleP50Ms: count(stale) ? histogramPercentile(stale, 50) : undefined,
      staleP99Ms: count(stale) ? histogramPercentile(stale, 99) : undefined,
      maxStaleMs: maxes.length ? round(Math.max(...maxes)) : count(stale) ? histogramMax(stale) : undefined,
      staleFromMemory: each.reduce((n, j) => n + j.staleFromMemory, 0),
      staleAtCall: each.reduce((n, j) => n + j.staleAtCall, 0),
      staleExamples: each.flatMap((j, reader) => j.examples.map((e) => ({ reader, ...e }))).slice(0, 12),
      staleAtCallExamples: each.flatMap((j, reader) => j.atCallExamples.map((e) => ({ reader, ...e }))).slice(0, 12),
      memoryHitShare: tiers && tiers.memory + tiers.redis > 0 ? round(tiers.memory / (tiers.memory + tiers.redis), 3) : undefined,
    };
  });
  const reads = subPhases.reduce((n, p) => n + p.reads, 0);
  const maxes = subPhases.map((p) => p.maxStaleMs).filter((m): m is number => m !== undefined);
  const late = read.filter((r) => r.warmedAt > bounds[0]).length;
  const errors = [...new Set([...read.flatMap((r) => r.errors), ...written.errors])];
  if (late) errors.push(`${late} readers finished warming after the start`);
  return {
    ...base(strategy, options),
    error: undefined,
    writes: written.key.length,
    failedWrites: written.failed,
    kills,
    reads,
    readsPerSec: Math.round((reads * 1000) / (bounds[bounds.length - 1] - bounds[0])),
    stale: subPhases.reduce((n, p) => n + p.stale, 0),
    maxStaleMs: maxes.length ? Math.max(...maxes) : undefined,
    subPhases,
    failedReads: read.reduce((n, r) => n + r.failed, 0),
    unreadable: read.reduce((n, r) => n + r.unreadable, 0),
    errors: errors.slice(0, 3),
  };
}
