import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from './lib/args';
import { cleanup, stopping } from './lib/cleanup';
import { benchCluster } from './lib/cluster';
import { environment } from './lib/environment';
import { startWorkers, stopWorkers } from './lib/fleet';
import { benchRedis, redisVersion, standaloneTarget } from './lib/redis';
import { sleep } from './lib/time';
import { runHerd, type HerdRow } from './phases/herd';
import { runHits, type HitsRow } from './phases/hits';
import { runMemory, type MemoryRow } from './phases/memory';
import { runMiss, type MissRow } from './phases/miss';
import type { Results } from './report/results';
import { render } from './render';
import { targets } from './report/targets';
import { STRATEGIES, isHerdless, strategy } from './strategies';

/*
 * npm run bench [-- --quick]: starts its own Redis, Redis Cluster (for the herd's cluster row) and worker
 * processes, runs the herd, hit, miss and memory phases, and writes <run>.json, <run>.md and <run>.svg under bench/results/ (bench/render.ts
 * remakes the last two from the JSON). Everything it
 * starts is stopped on exit, error or interrupt (lib/cleanup.ts).
 */
const began = Date.now();
const log = (line: string) => console.log(line.startsWith('\n') ? line : `[${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv, join(__dirname, 'results'));
  const started = Date.now();
  const startedAt = new Date(started).toISOString().replace(/\.\d+Z$/, 'Z');
  const selected = args.strategies ? args.strategies.map(strategy) : STRATEGIES;
  // Strategies on Redis Cluster run in the herd phase only; the other phases compare on one server.
  const standalone = selected.filter((s) => s.topology !== 'cluster');
  const needsCluster = args.phases.has('herd') && selected.some((s) => s.topology === 'cluster');
  const measured = needsCluster ? selected : standalone;
  const { redis, admin } = await benchRedis();
  log(`Redis on ${redis.url}; strategies: ${measured.map((s) => s.name).join(', ')}`);

  let herd: HerdRow[] = [];
  let hits: HitsRow[] = [];
  let miss: MissRow[] = [];
  let memory: MemoryRow | undefined;
  // Starting a worker (compiling TypeScript on the fly) is the slowest part of a quick run, so the herd's
  // workers serve every phase; --expose-gc lets the memory phase collect before it measures.
  // The cluster (about 7 s to form) starts while the workers compile, before anything is measured.
  const [workers, cluster] = await Promise.all([
    startWorkers(args.phases.has('herd') ? args.processes : 1, ['--expose-gc']),
    needsCluster ? benchCluster() : Promise.resolve(undefined),
  ]);
  if (cluster) log(`Redis Cluster on ${cluster.rootNodes!.map((n) => n.url.replace('redis://', '')).join(', ')}`);
  const [first] = workers;
  if (args.phases.has('herd')) {
    herd = await runHerd(workers, measured, { redis: standaloneTarget(redis.url, admin), cluster, deltasMs: args.deltasMs, callers: args.callers, ttlMs: 60_000, callTimeoutMs: 30_000, repeats: args.repeats }, log);
  }
  if (args.phases.has('hits')) {
    for (const concurrency of args.hitConcurrency) {
      hits.push(...(await runHits(admin, first, redis.url, standalone, { concurrency, roundMs: args.hitRoundMs, rounds: args.hitRounds, warmupMs: args.hitRoundMs }, log)));
    }
  }
  if (args.phases.has('miss')) miss = await runMiss(admin, first, redis.url, standalone, { samples: args.missSamples, probes: 5 }, log);
  if (args.phases.has('memory')) {
    await admin.flushAll();
    memory = await runMemory(first, { url: redis.url, inflight: args.inflight, churn: args.churn, batch: 1000 }, log);
  }
  await stopWorkers(workers);

  const partial: Omit<Results, 'targets'> = {
    mode: args.quick ? 'quick' : 'full',
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    startedAt,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    environment: environment(await redisVersion(admin), ['redis', ...measured.flatMap((s) => s.packages)]),
    settings: { ...args, phases: [...args.phases], out: undefined },
    strategies: measured.map((s) => ({ name: s.name, setup: s.setup })),
    herd,
    hits,
    miss,
    memory,
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
}

/** JSON first; the chart and the table are then made from the JSON as written. */
function write(dir: string, results: Results): void {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${results.startedAt.replace(/:/g, '-')}-${results.mode}`);
  writeFileSync(`${base}.json`, JSON.stringify(results, null, 2) + '\n');
  const written = render(`${base}.json`);
  log('\n' + written.table);
  log(`wrote ${relative(process.cwd(), base)}.{json,md${written.svg ? ',svg' : ''}}`);
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
