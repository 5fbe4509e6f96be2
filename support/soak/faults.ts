import type { FaultProxy } from '../fault-proxy';
import type { FaultLog } from './log';

/*
 * The soak's fault schedule. Each fault is applied, lasts `holdMs` where it has a duration, and is logged
 * with when it started and ended and whom it hit, so the oracle can tell what it may explain. The schedule
 * goes round a shuffled catalogue, so a run of a minute injects every kind at least once.
 */

export interface Environment {
  workers: number;
  /** SIGKILL of a worker, then a new process in its place. Resolves once the signal was delivered. */
  kill(worker: number): Promise<void>;
  /** The worker's fault proxy (standalone only). */
  proxy(worker: number): FaultProxy | undefined;
  /** Runs a command on every master (or one, chosen at random). */
  command(args: string[], where: 'every' | 'one'): Promise<string>;
  /** Standalone: stops Redis and starts it again on the same port (its data is lost: no persistence). */
  restart?(): Promise<void>;
  /** Cluster: a replica takes over from its master; hard: the master is SIGKILLed (and restarted as a replica once the failover is done). */
  failover?(hard: boolean): Promise<string>;
}

export interface Fault {
  name: string;
  /** Applies the fault to `worker` (drawn for those that target one), lasting holdMs; resolves when it is over. */
  run(env: Environment, worker: number, holdMs: number): Promise<{ worker?: number; detail?: string }>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `lasts`: how long the fault lasts once the command returns (CLIENT PAUSE), 0 for one that acts at once. */
const onRedis = (name: string, args: (holdMs: number) => string[], where: 'every' | 'one' = 'every', lasts = (_holdMs: number) => 0): Fault => ({
  name,
  async run(env, _worker, holdMs) {
    const detail = await env.command(args(holdMs), where);
    await sleep(lasts(holdMs));
    return { detail };
  },
});
const pauseMs = (holdMs: number) => Math.min(holdMs, 500);

const onProxy = (name: string, apply: (proxy: FaultProxy) => void): Fault => ({
  name,
  async run(env, worker, holdMs) {
    const proxy = env.proxy(worker)!;
    apply(proxy);
    await sleep(holdMs);
    proxy.heal();
    return { worker };
  },
});

const kill: Fault = {
  name: 'kill',
  async run(env, worker) {
    await env.kill(worker);
    return { worker };
  },
};

const shared: Fault[] = [
  kill,
  // SKIPME: the soak's own admin connection stays.
  onRedis('client kill normal', () => ['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']),
  onRedis('client kill pubsub', () => ['CLIENT', 'KILL', 'TYPE', 'pubsub']),
  onRedis('script flush', () => ['SCRIPT', 'FLUSH']),
];

/** Faults for one Redis server behind a proxy per worker. */
export const STANDALONE: Fault[] = [
  ...shared,
  onRedis('client pause', (holdMs) => ['CLIENT', 'PAUSE', String(pauseMs(holdMs)), 'ALL'], 'every', pauseMs),
  {
    name: 'redis restart',
    async run(env) {
      await env.restart!();
      return {};
    },
  },
  onProxy('latency', (proxy) => proxy.latency(40, 20)),
  onProxy('bandwidth', (proxy) => proxy.bandwidth(16_000)),
  onProxy('blackhole', (proxy) => proxy.blackhole()),
  onProxy('reset', (proxy) => proxy.reset()),
  // A reply cut where the count ends: in a value, in a script's reply, between replies.
  onProxy('close after N bytes', (proxy) => proxy.closeAfter(1 + Math.floor(Math.random() * 2_000))),
  onProxy('slice', (proxy) => proxy.slice(1)),
];

/** Faults for a 3-master cluster the workers reach directly. */
export const CLUSTER: Fault[] = [
  ...shared,
  onRedis('client pause', (holdMs) => ['CLIENT', 'PAUSE', String(pauseMs(holdMs)), 'ALL'], 'one', pauseMs),
  {
    name: 'failover',
    async run(env) {
      return { detail: await env.failover!(false) };
    },
  },
  {
    name: 'master killed',
    async run(env) {
      return { detail: await env.failover!(true) };
    },
  },
];

/** Seeded shuffle (the schedule is reproducible from the seed). */
function shuffled<T>(items: T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/**
 * Runs faults one after another from `from` until `until` (epoch ms): each lasts 600 to 1,400 ms, with a
 * pause of 1 to 2.5 s between them. Returns the log of what was injected.
 */
export async function schedule(env: Environment, catalogue: Fault[], { from, until, random }: { from: number; until: number; random: () => number }): Promise<FaultLog[]> {
  const log: FaultLog[] = [];
  await sleep(Math.max(0, from - Date.now()));
  let round: Fault[] = [];
  while (Date.now() < until) {
    if (round.length === 0) round = shuffled(catalogue, random);
    const fault = round.shift()!;
    const worker = Math.floor(random() * env.workers);
    const holdMs = 600 + Math.floor(random() * 800);
    const start = Date.now();
    try {
      const { worker: hit, detail } = await fault.run(env, worker, holdMs);
      log.push({ type: 'fault', name: fault.name, worker: hit, start, end: Date.now(), detail });
    } catch (error) {
      // A fault that could not be injected is reported, not hidden: the table shows it.
      log.push({ type: 'fault', name: `${fault.name} (not injected)`, start, end: Date.now(), detail: String(error) });
    }
    await sleep(1_000 + Math.floor(random() * 1_500));
  }
  return log;
}
