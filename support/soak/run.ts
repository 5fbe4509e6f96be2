/*
 * npm run soak: a chaos soak with an oracle. Worker processes (worker.ts) run a random workload on one
 * namespace — getOrSet over a key space, set, delete, tag and group invalidations, clear; the memory tier
 * and grace on and off — while a fault schedule (faults.ts) kills workers, kills connections, flushes
 * scripts, pauses and restarts Redis, and breaks each worker's link through its fault proxy; on a cluster,
 * masters fail over. Every call is logged; the oracle (oracle.ts) then judges the log, a table of faults
 * and invariants is printed, and the exit code is 1 on any violation.
 *
 *   npm run soak -- [--duration 60s] [--cluster] [--workers 4] [--seed N] [--out file.jsonl]
 *
 * The log (JSONL, one entry per line, log.ts) is kept, so a verdict can be read again and a failure
 * studied; `--judge file.jsonl` judges a kept log without running anything.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../embedded-redis';
import { startFaultProxy, type FaultProxy } from '../fault-proxy';
import { startCluster, type LocalCluster } from '../redis-cluster';
import { RECOVERY_MS } from './bounds';
import { CLUSTER, schedule, STANDALONE, type Environment } from './faults';
import { PROFILES, seeded, SETTINGS, type Entry, type ProblemLog, type WorkerMessage } from './log';
import { HEAP_MARGIN, INVARIANTS, judge, type Verdict } from './oracle';

interface Options {
  durationMs: number;
  cluster: boolean;
  workers: number;
  seed: number;
  out: string;
  judge?: string;
}

function parse(argv: string[]): Options {
  const options: Options = { durationMs: 60_000, cluster: false, workers: 4, seed: Date.now() % 1_000_000, out: '' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${flag} needs a value`);
      return next;
    };
    if (flag === '--duration') {
      const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value());
      if (!match) throw new Error('--duration takes a time such as 60s, 10m or 90000ms');
      options.durationMs = Number(match[1]) * (match[2] === 'm' ? 60_000 : match[2] === 'ms' ? 1 : 1_000);
    } else if (flag === '--cluster') options.cluster = true;
    else if (flag === '--workers') options.workers = Number(value());
    else if (flag === '--seed') options.seed = Number(value());
    else if (flag === '--out') options.out = value();
    else if (flag === '--judge') options.judge = value();
    else throw new Error(`unknown flag ${flag}: use --duration, --cluster, --workers, --seed, --out or --judge`);
  }
  if (!Number.isInteger(options.workers) || options.workers < 2) throw new Error('--workers takes a whole number, at least 2');
  if (!Number.isFinite(options.seed)) throw new Error('--seed takes a number');
  // Faults need room: a warm-up before them and a quiet tail after, in which caching must resume.
  if (options.durationMs < 20_000 + RECOVERY_MS) throw new Error(`--duration must be at least ${Math.ceil((20_000 + RECOVERY_MS) / 1000)}s`);
  options.out ||= join('soak-results', `soak-${options.cluster ? 'cluster' : 'standalone'}-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
  return options;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A worker slot: its process, restarted in place after a kill. */
class Slot {
  child!: ChildProcess;
  incarnation = 0;
  ready!: Promise<void>;
  done: Promise<void> = Promise.resolve();
  /** Exits the schedule caused: not problems. */
  readonly kills: number[] = [];

  constructor(
    readonly index: number,
    private readonly args: (incarnation: number) => object,
    private readonly entries: Entry[],
  ) {
    this.spawn(SETTINGS.ttlMs);
  }

  private spawn(warmupMs: number) {
    const child = fork(join(__dirname, 'worker.ts'), [JSON.stringify({ ...this.args(this.incarnation), warmupMs })], {
      execArgv: ['--expose-gc', '-r', 'ts-node/register/transpile-only'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    let ready: () => void;
    let done: () => void;
    this.ready = new Promise((resolve) => (ready = resolve));
    this.done = new Promise((resolve) => (done = resolve));
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') ready();
      else if (message.type === 'batch') this.entries.push(...message.entries);
      else if (message.type === 'done') {
        this.entries.push(message.heap);
        done();
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' || !this.kills.includes(child.pid ?? -1)) {
        if (code !== 0) this.entries.push({ type: 'problem', worker: this.index, kind: 'exit', detail: `exited with ${signal ?? code}`, at: Date.now() } satisfies ProblemLog);
      }
      ready();
      done();
    });
  }

  /** SIGKILL, as a crash: no handler runs, the OS closes its sockets. A successor starts at once. */
  async kill(): Promise<void> {
    const child = this.child;
    this.kills.push(child.pid ?? -1);
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
    this.incarnation++;
    this.spawn(3_000);
  }

  finish(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.send({ type: 'finish' });
    return this.done;
  }
}

async function main() {
  const options = parse(process.argv.slice(2));
  if (options.judge) {
    // Line by line: a long run's log is larger than the longest string V8 can hold.
    const entries: Entry[] = [];
    for await (const line of createInterface({ input: createReadStream(options.judge), crlfDelay: Infinity })) if (line) entries.push(JSON.parse(line) as Entry);
    const verdict = judge(entries);
    print(verdict, `judged again: ${options.judge}`);
    process.exitCode = failed(verdict) ? 1 : 0;
    return;
  }
  const random = seeded(options.seed);
  const mode = options.cluster ? 'cluster (3 masters, 3 replicas)' : 'standalone';
  console.log(`herdless soak: ${mode}, ${options.workers} workers, ${options.durationMs / 1000} s, seed ${options.seed}`);

  const entries: Entry[] = [];
  const clock = await startRedis();
  let redis: EmbeddedRedis | undefined;
  let cluster: LocalCluster | undefined;
  const proxies: FaultProxy[] = [];
  const slots: Slot[] = [];
  let admin: ReturnType<typeof createClient> | undefined;
  const cleanUp = async () => {
    for (const slot of slots) if (slot.child.exitCode === null && slot.child.signalCode === null) slot.child.kill('SIGKILL');
    await admin?.disconnect().catch(() => undefined);
    await Promise.all(proxies.map((proxy) => proxy.stop()));
    await redis?.stop();
    await cluster?.stop();
    await clock.stop();
  };
  // Interrupted (Ctrl-C, a CI timeout): the workers and every Redis this run started go too.
  const interrupted = (signal: NodeJS.Signals) => void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const namespace = `soak-${options.seed}`;
    let env: Environment;
    if (options.cluster) {
      const started = await startCluster();
      cluster = started;
      env = {
        workers: options.workers,
        kill: (worker) => slots[worker].kill(),
        proxy: () => undefined,
        async command(args, where) {
          const masters = await started.masters();
          const targets = where === 'every' ? masters : [masters[Math.floor(random() * masters.length)]];
          return targets.map((port) => `${port}: ${started.cli(port, ...args).trim()}`).join('; ');
        },
        failover: (hard) => failover(started, hard, random),
      };
    } else {
      const server = await startRedis();
      redis = server;
      const client = createClient({ url: server.url });
      client.on('error', () => undefined);
      await client.connect();
      admin = client;
      for (let i = 0; i < options.workers; i++) proxies.push(await startFaultProxy({ target: { host: '127.0.0.1', port: server.port } }));
      env = {
        workers: options.workers,
        kill: (worker) => slots[worker].kill(),
        proxy: (worker) => proxies[worker],
        async command(args) {
          return String(await client.sendCommand(args));
        },
        async restart() {
          await server.stop();
          await sleep(300);
          await server.start();
        },
      };
    }
    for (let i = 0; i < options.workers; i++) {
      const reach = cluster ? { cluster: { rootNodes: cluster.rootNodes } } : { url: proxies[i].url };
      slots.push(new Slot(i, (incarnation) => ({ index: i, incarnation, redis: reach, clockUrl: clock.url, namespace, seed: options.seed }), entries));
    }
    await Promise.all(slots.map((slot) => slot.ready));
    const started = Date.now();
    const quietMs = RECOVERY_MS + 4_000;
    console.log(`workers warmed up; faults from 2 s to ${((options.durationMs - quietMs) / 1000).toFixed(1)} s, then quiet`);
    const faults = await schedule(env, options.cluster ? CLUSTER : STANDALONE, { from: started + 2_000, until: started + options.durationMs - quietMs, random });
    entries.push(...faults);
    // The quiet tail, in which caching must resume, follows the last fault's end even if that fault
    // (a failover waiting for the cluster to settle) ran past the schedule.
    const lastEnd = Math.max(0, ...faults.map((fault) => fault.end));
    await sleep(Math.max(started + options.durationMs, lastEnd + quietMs) - Date.now());
    await Promise.race([Promise.all(slots.map((slot) => slot.finish())), sleep(30_000)]);

    mkdirSync(dirname(options.out), { recursive: true });
    // In pieces: a long run's log is larger than the longest string V8 can hold.
    const fd = openSync(options.out, 'w');
    for (let i = 0; i < entries.length; i += 10_000) writeSync(fd, entries.slice(i, i + 10_000).map((entry) => JSON.stringify(entry) + '\n').join(''));
    closeSync(fd);
    const verdict = judge(entries);
    print(verdict, `log: ${options.out}`);
    process.exitCode = failed(verdict) ? 1 : 0;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

/**
 * A replica takes over from a master: CLUSTER FAILOVER on it, or (hard) its master is SIGKILLed, then
 * started again (it rejoins as a replica). Only a master with a replica attached and in sync is chosen,
 * and the fault is over once every node is back and every replica attached again: the schedule never
 * leaves a shard without a node that can take over, which no client could survive.
 */
async function failover(cluster: LocalCluster, hard: boolean, random: () => number): Promise<string> {
  const alive = (port: number) => cluster.nodes.some((node) => node.port === port && node.process.exitCode === null && node.process.signalCode === null);
  /** Replicas with their link to `master` up. */
  const attached = (master: number) =>
    cluster.nodes
      .filter((node) => node.port !== master && alive(node.port))
      .filter((node) => {
        const info = cluster.cli(node.port, 'info', 'replication');
        return /role:slave/.test(info) && info.includes(`master_port:${master}`) && /master_link_status:up/.test(info);
      });
  const settled = async () => {
    await cluster.waitUntilHealthy(30_000);
    for (const until = Date.now() + 30_000; ; await sleep(100)) {
      const masters = await cluster.masters();
      if (masters.every((master) => attached(master).length > 0)) return;
      if (Date.now() > until) throw new Error('replicas did not attach again');
    }
  };
  await settled();
  const masters = await cluster.masters();
  const candidates = masters.filter((master) => attached(master).length > 0);
  const victim = candidates[Math.floor(random() * candidates.length)];
  if (hard) {
    cluster.nodes.find((node) => node.port === victim)!.process.kill('SIGKILL');
    try {
      await sleep(200);
      await cluster.waitUntilHealthy(30_000);
    } finally {
      await cluster.restart(victim);
    }
    await settled();
    return `master ${victim} killed, then back as a replica`;
  }
  const [replica] = attached(victim);
  cluster.cli(replica.port, 'cluster', 'failover');
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(100)) if (/role:master/.test(cluster.cli(replica.port, 'info', 'replication'))) break;
  await settled();
  return `replica ${replica.port} took over from ${victim}`;
}

const failed = (verdict: Verdict) => INVARIANTS.some((name) => verdict.violations[name].length > 0);

function print(verdict: Verdict, where: string) {
  const table = (title: string, rows: [string, string | number][]) => {
    console.log(`\n| ${title} | |\n| --- | ---: |`);
    for (const [name, value] of rows) console.log(`| ${name} | ${value} |`);
  };
  const sorted = (counts: Record<string, number>) => Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
  table(`faults injected (${sum(verdict.faults)})`, sorted(verdict.faults));
  table(`calls (${sum(verdict.calls)}), by outcome`, sorted(verdict.calls));
  table(`writes (${sum(verdict.writes)})`, sorted(verdict.writes));
  table(`function runs (${sum(verdict.runs)}), explained as`, sorted(verdict.runs));
  const heap = verdict.heap.map((h) => `w${h.worker}.${h.incarnation} ${(h.start / 1048576).toFixed(1)} → ${(h.end / 1048576).toFixed(1)} MB`).join(', ');
  console.log(`\nheap after gc (warmed up → end; margin +${HEAP_MARGIN.ratio * 100}% or ${HEAP_MARGIN.bytes / 1048576} MB): ${heap}`);
  console.log(`calls after the last fault's effects: ${verdict.tail.calls}`);
  table('invariant', INVARIANTS.map((name) => [name, verdict.violations[name].length === 0 ? 'held (0 violations)' : `**${verdict.violations[name].length} violations**`]));
  for (const name of INVARIANTS) for (const violation of verdict.violations[name].slice(0, 5)) console.log(`\n${name}: ${violation}`);
  console.log(`\n${where}\nprofiles: ${PROFILES.map((p, i) => `w${i} l1 ${p.l1 ? 'on' : 'off'}, grace ${p.graceMs ? `${p.graceMs / 1000} s` : 'off'}`).join('; ')}`);
  console.log(failed(verdict) ? '\nSOAK FAILED' : '\nsoak passed: every invariant held');
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
