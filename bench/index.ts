import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from './lib/args';
import { cleanup, stopping } from './lib/cleanup';
import { benchCluster } from './lib/cluster';
import { environment } from './lib/environment';
import { startWorkers, stopWorkers } from './lib/fleet';
import { benchRedis, redisVersion, standaloneTarget } from './lib/redis';
import { sleep } from './lib/time';
import { runCoherence, type CoherenceRow } from './phases/coherence';
import { QUICK_CRASH_STRATEGIES, runCrash, type CrashRow } from './phases/crash';
import { runExpiry, type ExpiryRow } from './phases/expiry';
import { runHerd, type HerdRow } from './phases/herd';
import { runHits, type HitsRow } from './phases/hits';
import { INSTRUMENTATION_PACKAGES, runInstrumentation, variantOf, type InstrumentationResult } from './phases/instrumentation';
import { runMemory, type MemoryRow } from './phases/memory';
import { runMiss, type MissRow } from './phases/miss';
import { runTags, type TagsResult } from './phases/tags';
import type { Results } from './report/results';
import { render } from './render';
import { targets } from './report/targets';
import { STRATEGIES, isHerdless, runsIn, strategy } from './strategies';
import type { Strategy } from './strategies/strategy';

/*
 * npm run bench [-- --quick]: starts its own Redis, Redis Cluster (for the herd's cluster row) and worker
 * processes, runs the herd, expiry, crash, hit, coherence, miss, memory, tags and instrumentation phases, and writes <run>.json, <run>.md and the
 * charts (<run>.svg, <run>.expiry.svg) under bench/results/ (bench/render.ts remakes all but the JSON from
 * it). Everything it starts is stopped on exit, error or interrupt (lib/cleanup.ts).
 */
const began = Date.now();
const log = (line: string) => console.log(line.startsWith('\n') ? line : `[${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, join(__dirname, 'results'));
  const started = Date.now();
  const startedAt = new Date(started).toISOString().replace(/\.\d+Z$/, 'Z');
  const selected = args.strategies ? args.strategies.map(strategy) : STRATEGIES;
  // Strategies on Redis Cluster run in the herd phase only (the other phases compare on one server), and
  // herdless-early in the expiry phase only. A quick run's crash phase takes a few strategies, not all:
  // every crash costs a worker's restart.
  const quickCrash = (s: Strategy) => !args.quick || args.strategies !== undefined || QUICK_CRASH_STRATEGIES.includes(s.name);
  const inPhase = (phase: string) => selected.filter((s) => runsIn(s, phase) && (phase !== 'crash' || quickCrash(s)));
  const needsCluster = args.phases.has('herd') && inPhase('herd').some((s) => s.topology === 'cluster');
  const measured = selected.filter((s) => [...args.phases].some((phase) => inPhase(phase).includes(s)));
  const { redis, admin } = await benchRedis();
  log(`Redis on ${redis.url}; strategies: ${measured.map((s) => s.name).join(', ')}`);

  let herd: HerdRow[] = [];
  let expiry: ExpiryRow[] = [];
  let crash: CrashRow[] | undefined;
  let hits: HitsRow[] = [];
  let coherence: CoherenceRow[] = [];
  let miss: MissRow[] = [];
  let memory: MemoryRow | undefined;
  let tags: TagsResult | undefined;
  let instrumentation: InstrumentationResult | undefined;
  // Starting a worker (compiling TypeScript on the fly) is the slowest part of a quick run, so the herd's
  // workers serve every phase (the coherence phase's readers and writer, and the crash phase's leader and
  // waiters too: as many more as they need);
  // --expose-gc lets the memory phase collect before it measures.
  // The cluster (about 7 s to form) starts while the workers compile, before anything is measured.
  const fleetSize = Math.max(
    args.phases.has('herd') || args.phases.has('expiry') ? args.processes : 1,
    args.phases.has('coherence') ? args.coherenceReaders + 1 : 1,
    args.phases.has('crash') ? args.crashWaiters + 1 : 1,
  );
  const [workers, cluster] = await Promise.all([
    startWorkers(fleetSize, ['--expose-gc']),
    needsCluster ? benchCluster() : Promise.resolve(undefined),
  ]);
  if (cluster) log(`Redis Cluster on ${cluster.rootNodes!.map((n) => n.url.replace('redis://', '')).join(', ')}`);
  const [first] = workers;
  const processes = workers.slice(0, args.processes);
  if (args.phases.has('herd')) {
    herd = await runHerd(processes, inPhase('herd'), { redis: standaloneTarget(redis.url, admin), cluster, deltasMs: args.deltasMs, callers: args.callers, ttlMs: 60_000, callTimeoutMs: 30_000, repeats: args.repeats }, log);
  }
  if (args.phases.has('expiry')) {
    const options = { url: redis.url, lanes: args.expiryLanes, ttlMs: args.expiryTtlMs, fnMs: args.expiryFnMs, runMs: args.expiryRunMs, graceMs: args.expiryGraceMs, callTimeoutMs: 10_000 };
    expiry = await runExpiry(admin, processes, inPhase('expiry'), options, log);
  }
  // The crash phase kills its leaders and forks them anew after each strategy, so later phases find a full fleet.
  if (args.phases.has('crash')) {
    const options = { url: redis.url, fnMs: args.crashFnMs, waiters: args.crashWaiters, callers: args.crashCallers, ttlMs: 60_000, callTimeoutMs: 30_000 };
    crash = await runCrash(admin, workers, inPhase('crash'), options, log);
  }
  if (args.phases.has('hits')) {
    for (const { callers, keys } of args.hitScenarios) {
      hits.push(...(await runHits(admin, first, redis.url, inPhase('hits'), { callers, keys, roundMs: args.hitRoundMs, rounds: args.hitRounds, warmupMs: args.hitRoundMs }, log)));
    }
  }
  if (args.phases.has('coherence')) {
    const options = { url: redis.url, readers: args.coherenceReaders, lanes: 8, keys: args.coherenceKeys, phaseMs: args.coherencePhaseMs, writeEveryMs: args.coherenceWriteMs, staleAfterMs: 100 };
    coherence = await runCoherence(admin, workers, inPhase('coherence'), options, log);
  }
  if (args.phases.has('miss')) miss = await runMiss(admin, first, redis.url, inPhase('miss'), { samples: args.missSamples, probes: 5 }, log);
  if (args.phases.has('memory')) {
    await admin.flushAll();
    memory = await runMemory(first, { url: redis.url, inflight: args.inflight, churn: args.churn, batch: 1000 }, { url: redis.url, maxEntries: 10_000, churn: args.l1Churn, batch: 10_000 }, log);
  }
  if (args.phases.has('tags')) {
    const options = { url: redis.url, callers: [32, 1], roundMs: args.tagsRoundMs, rounds: args.tagsRounds, entries: args.tagsEntries, invalidations: args.tagsInvalidations, fillConcurrency: 2000, rereadTags: args.tagsRereadTags };
    tags = await runTags(admin, first, inPhase('tags'), options, log);
  }
  // Last: whatever the adapter leaves in the worker once stopped (its SDK loaded, instruments kept by the
  // meter provider) cannot touch another phase's numbers.
  if (args.phases.has('instrumentation')) {
    const options = { url: redis.url, callers: [32, 1], roundMs: args.instrumentationRoundMs, rounds: args.instrumentationRounds };
    instrumentation = await runInstrumentation(admin, first, inPhase('instrumentation'), options, log);
  }
  await stopWorkers(workers);

  const partial: Omit<Results, 'targets'> = {
    mode: args.quick ? 'quick' : 'full',
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    startedAt,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    environment: environment(await redisVersion(admin), ['redis', ...measured.flatMap((s) => s.packages), ...(instrumentation ? INSTRUMENTATION_PACKAGES : [])]),
    settings: { ...args, phases: [...args.phases], out: undefined },
    strategies: measured.map((s) => ({ name: s.name, setup: s.setup })),
    herd,
    expiry,
    crash,
    hits,
    coherence,
    miss,
    memory,
    tags,
    instrumentation,
  };
  const results: Results = { ...partial, targets: targets(partial) };
  write(args.out, results);
  // The smoke test's verdict: herdless (standalone and cluster) must compute once per herd and answer
  // every call. Timings are reported, not judged here, since a shared CI machine makes them noisy.
  const broken = herd.filter((r) => isHerdless(r.strategy) && (r.factoryRuns !== 1 || r.failed > 0 || !r.equalValues));
  if (broken.length) {
    console.error(`herdless misbehaved in the herd: ${broken.map((r) => `${r.strategy} ${r.deltaMs} ms: ${r.factoryRuns} runs, ${r.failed} failed, equal values ${r.equalValues}`).join('; ')}`);
    process.exitCode = 1;
  }
  // Across expiries herdless must answer every call; how often it refreshes and blocks is reported only.
  const failing = expiry.filter((r) => isHerdless(r.strategy) && (r.error !== undefined || r.failed > 0));
  if (failing.length) {
    console.error(`herdless failed in the expiry phase: ${failing.map((r) => `${r.strategy}: ${r.error ?? `${r.failed} failed calls`}`).join('; ')}`);
    process.exitCode = 1;
  }
  // The same in the coherence phase; its stale reads are judged in the targets table, not here.
  const incoherent = coherence.filter((r) => isHerdless(r.strategy) && (r.error !== undefined || r.failedReads > 0 || r.unreadable > 0));
  if (incoherent.length) {
    console.error(`herdless failed in the coherence phase: ${incoherent.map((r) => `${r.strategy}: ${r.error ?? `${r.failedReads} failed reads, ${r.unreadable} unreadable`}`).join('; ')}`);
    process.exitCode = 1;
  }
  // A crashed leader: herdless must answer every caller, after exactly one factory run that replaced it;
  // how fast the takeover came is judged in the targets table.
  const uncrashed = (crash ?? []).filter((r) => isHerdless(r.strategy) && (r.error !== undefined || r.failed > 0 || r.runsAfterKill !== 1));
  if (uncrashed.length) {
    console.error(`herdless failed in the crash phase: ${uncrashed.map((r) => `${r.strategy} ${r.scenario}: ${r.error ?? `${r.failed} failed calls, ${r.runsAfterKill} factory runs after the kill (1 expected)`}`).join('; ')}`);
    process.exitCode = 1;
  }
  // Tags: an invalidation must take (none of its entries served), leave other tags' entries alone and
  // visit no entry (no SCAN, KEYS or deletes); and after the subscriber is killed the cache must come back
  // to reading nothing. Timings are reported only.
  const mistagged = tagFailures(tags);
  if (mistagged.length) {
    console.error(`herdless failed in the tags phase: ${mistagged.join('; ')}`);
    process.exitCode = 1;
  }
  // Instrumentation: the adapter must count every call it saw, once; its cost is judged in the targets table.
  const miscounted = variantOf(instrumentation, 'otel').filter((r) => r.requestsPerCall !== 1);
  if (miscounted.length) {
    console.error(`herdless failed in the instrumentation phase: the OpenTelemetry adapter counted ${miscounted.map((r) => `${r.requestsPerCall} herdless.requests per call (${r.strategy}, ${r.callers} callers)`).join(', ')}; 1 expected`);
    process.exitCode = 1;
  }
}

function tagFailures(tags: TagsResult | undefined): string[] {
  if (!tags) return [];
  const failures: string[] = [];
  for (const r of tags.invalidation.filter((r) => isHerdless(r.strategy))) {
    const at = `${r.strategy}, ${r.entries} entries`;
    if (r.stillServed > 0) failures.push(`${at}: ${r.stillServed} of ${r.sampled} invalidated entries still served`);
    if (r.stillHit < r.untouched) failures.push(`${at}: ${r.untouched - r.stillHit} of ${r.untouched} entries of other tags no longer hit`);
    if (r.scanCalls + r.keysCalls + r.deleteCalls > 0) failures.push(`${at}: invalidateTags ran ${r.scanCalls} SCAN, ${r.keysCalls} KEYS, ${r.deleteCalls} DEL/UNLINK`);
    if ((r.commandsPerCall.evalsha ?? 0) !== 1) failures.push(`${at}: ${r.commandsPerCall.evalsha ?? 0} EVALSHA per invalidateTags of one tag (1 expected)`);
  }
  for (const r of tags.reread.filter((r) => isHerdless(r.strategy))) {
    if (r.error || !r.steady || r.failed > 0) failures.push(`${r.strategy} re-read: ${r.error ?? (r.steady ? `${r.failed} failed hits` : 'never steady again')}`);
    else if (r.duplicates > 0) failures.push(`${r.strategy} re-read: ${r.duplicates} tag-version reads of a tag already read in the same pass`);
  }
  return failures;
}

/** JSON first; the chart and the table are then made from the JSON as written. */
function write(dir: string, results: Results): void {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${results.startedAt.replace(/:/g, '-')}-${results.mode}`);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
  const written = render(`${base}.json`);
  log('\n' + written.table);
  log(`wrote ${relative(process.cwd(), base)}.{${['json', 'md', written.svg && 'svg', written.expirySvg && 'expiry.svg'].filter(Boolean).join(',')}}`);
}

main().then(
  () => cleanup(),
  async (error) => {
    // Ctrl-C reaches the workers and servers too, and their deaths can be seen before the signal itself:
    // give it a moment, so an interrupt is reported as one rather than as the failures it caused.
    await sleep(100);
    if (!stopping()) console.error(error);
    await cleanup();
    process.exit(1);
  },
);
