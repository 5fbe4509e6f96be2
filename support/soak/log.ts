/*
 * What a soak run records: every call, every function run, every write, every fault, as plain JSON. The
 * workers (worker.ts) send them to the parent (run.ts) in batches; the oracle (oracle.ts) reads nothing
 * else, so a run's verdict can be checked again from its log file.
 *
 * The clock that makes values comparable: every function run and every write of a key takes its number
 * from INCR on the key's clock, in a Redis of its own that no fault touches. A write takes it before it is
 * sent (its floor): once the write has resolved, a value of that key numbered below the floor is one the
 * write invalidated.
 */

/** A value the soak caches: which key, which tick of its clock, who made it and how. */
export interface Made {
  key: string;
  run: number;
  worker: number;
  kind: 'run' | 'set';
}

export interface CallLog {
  type: 'call';
  worker: number;
  /** Unique in the run: `<worker>.<incarnation>.<n>`. */
  id: string;
  key: string;
  start: number;
  end: number;
  ok: boolean;
  error?: string;
  /** From the call's herdless:getOrSet trace. */
  outcome?: string;
  tier?: string;
  value?: Made;
  /** Still pending when its bound (plus the margin) ran out; `end` is then when it was given up on. */
  hung?: true;
}

export interface RunLog {
  type: 'run';
  worker: number;
  key: string;
  run: number;
  /** The call whose function this is: a background refresh runs the function of the call that found it stale. */
  call: string;
  start: number;
  end: number;
  /** It threw (failureOf): its callers, and the waiters on its lease, reject with that error. */
  threw?: true;
}

export type WriteKind = 'set' | 'delete' | 'tags' | 'group' | 'clear';

export interface WriteLog {
  type: 'write';
  worker: number;
  kind: WriteKind;
  /** The keys it invalidates, with the floor taken on each one's clock. */
  keys: string[];
  floors: number[];
  sent: number;
  resolved: number;
  ok: boolean;
  error?: string;
}

export interface FaultLog {
  type: 'fault';
  name: string;
  /** The worker it targets, or undefined for one on Redis itself (every worker feels it). */
  worker?: number;
  start: number;
  end: number;
  detail?: string;
}

export interface ProblemLog {
  type: 'problem';
  worker: number;
  kind: 'unhandled' | 'exit';
  detail: string;
  at: number;
}

export interface HeapLog {
  type: 'heap';
  worker: number;
  incarnation: number;
  /** heapUsed after a forced gc(), once warmed up and at the end of the workload. */
  start: number;
  end: number;
  /** Every 10 s in between. */
  samples?: number[];
}

export type Entry = CallLog | RunLog | WriteLog | FaultLog | ProblemLog | HeapLog;

/** Worker → parent. */
export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'batch'; entries: Entry[] }
  | { type: 'done'; heap: HeapLog };

/** Parent → worker. */
export type ParentMessage = { type: 'finish' };

/** The profile of one worker: its cache's options, which the oracle's bounds come from. */
export interface Profile {
  l1: boolean;
  graceMs: number;
}

/** Options every worker shares; run.ts passes them and the oracle bounds calls with them. */
export const SETTINGS = {
  keys: 200,
  ttlMs: 2_000,
  commandTimeoutMs: 200,
  leaseTtlMs: 1_000,
  waitTimeoutMs: 3_000,
  /** A function run takes 2 to 30 ms. */
  functionMs: [2, 30] as const,
  /** Concurrent callers per worker, each calling back to back with a pause of up to 4 ms. */
  lanes: 6,
  gapMs: 4,
  /** The share of function runs that throw. */
  failingRuns: 0.01,
} as const;

/** The message a failing run throws, naming its key and number, so a rejection can be traced to the run it came from. */
export const failureOf = (key: string, run: number) => `soak: run ${run} of ${key} failed`;
export const FAILURE = /soak: run (\d+) of (\S+) failed/;

/** Worker i's profile: the memory tier and grace on and off, in every combination. */
export const PROFILES: Profile[] = [
  { l1: true, graceMs: 4_000 },
  { l1: true, graceMs: 0 },
  { l1: false, graceMs: 4_000 },
  { l1: false, graceMs: 0 },
];

export const keyName = (i: number) => `k${i}`;
/** Every key carries its own tag and one of ten group tags, so a group invalidation reaches twenty keys. */
export const groupOf = (i: number) => `g${i % 10}`;
export const tagOf = (key: string) => `t:${key}`;

/** A seeded generator (mulberry32): a run's fault schedule and workload are reproducible from its seed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
