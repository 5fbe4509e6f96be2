import { HIT_SCENARIOS } from '../phases/hits';

/** Command-line settings of a run; --quick picks small numbers for CI, flags override either preset. */
export interface BenchArgs {
  quick: boolean;
  phases: Set<string>;
  strategies: string[] | undefined;
  processes: number;
  callers: number;
  deltasMs: number[];
  repeats: number;
  /** Expiry phase: lanes per process, the cache's ttl, the factory's time, the run's length, grace. */
  expiryLanes: number;
  expiryTtlMs: number;
  expiryFnMs: number;
  expiryRunMs: number;
  expiryGraceMs: number;
  /** Crash phase: the function's time, the processes waiting on the killed leader and the callers in each. */
  crashFnMs: number;
  crashWaiters: number;
  crashCallers: number;
  hitRoundMs: number;
  hitRounds: number;
  /** Hits phase: the scenarios (callers, keys), see phases/hits.ts. */
  hitScenarios: { callers: number; keys: number }[];
  /** Coherence phase: reader processes (a writer process joins them), keys, sub-phase length, one write every N ms. */
  coherenceReaders: number;
  coherenceKeys: number;
  coherencePhaseMs: number;
  coherenceWriteMs: number;
  missSamples: number;
  inflight: number;
  churn: number;
  /** Memory phase: distinct keys passed through a memory tier bounded at 10,000 entries. */
  l1Churn: number;
  /** Tags phase: ms per variant per round and rounds of the hits; entries of the large invalidation; invalidations timed; tags of the re-read. */
  tagsRoundMs: number;
  tagsRounds: number;
  tagsEntries: number;
  tagsInvalidations: number;
  tagsRereadTags: number;
  /** Instrumentation phase: ms per variant per round and rounds of its hits. */
  instrumentationRoundMs: number;
  instrumentationRounds: number;
  out: string;
}

export const PHASES = ['herd', 'expiry', 'crash', 'hits', 'coherence', 'miss', 'memory', 'tags', 'instrumentation'];

export const USAGE = `npm run bench [-- options]

  --quick                 small numbers, about two minutes (CI smoke test)
  --only herd,hits,...    phases to run (herd, expiry, crash, hits, coherence, miss, memory,
                          tags, instrumentation); default all
  --strategies a,b        strategies to run; default all
  --processes N           herd and expiry worker processes (default 6, quick 3)
  --callers N             concurrent callers per process (default 50, quick 20)
  --deltas 50,500,2500    factory times in ms (quick 50)
  --repeats N             herds per row, latencies pooled (default 3, quick 1)
  --expiry-lanes N        expiry: lanes per process calling back to back (default 10, quick 5)
  --expiry-ttl-ms N       expiry: the cache's ttl (default 1000)
  --expiry-fn-ms N        expiry: the factory's time (default 300)
  --expiry-run-ms N       expiry: how long the lanes call (default 8000, quick 4000)
  --expiry-grace-ms N     expiry: grace of the caches that serve stale while refreshing (default 10000)
  --crash-fn-ms N         crash: the function's time (default 4000, quick 2000); a quick run's crash
                          phase runs herdless, 2014-design and bentocache, unless --strategies is given
  --crash-waiters N       crash: processes waiting on the killed leader (default 3, quick 2)
  --crash-callers N       crash: callers in each waiting process (default 10, quick 5)
  --hit-round-ms N        ms per side per round of the hit benchmark
  --hit-rounds N          alternating rounds of the hit benchmark
  --coherence-readers N   coherence: reader processes, plus one writer (default 4, quick 2)
  --coherence-keys N      coherence: keys read and written (default 50)
  --coherence-phase-ms N  coherence: length of the steady and after sub-phases; bus killed is 1.5x
                          (default 3000, quick 1500)
  --coherence-write-ms N  coherence: one write every N ms, key after key (default 20)
  --inflight N            keys in flight for the memory phase (default 10000)
  --churn N               distinct keys that come and go (default 100000)
  --l1-churn N            memory: distinct keys through a memory tier of 10,000 entries
                          (default 1000000, quick 100000)
  --tags-round-ms N       tags: ms per variant per round of the tagged hits (default 200, quick 60)
  --tags-rounds N         tags: rounds of the tagged hits (default 8, quick 4)
  --tags-entries N        tags: entries tagged 'big' of the large invalidation (default 1000000, quick 100000)
  --tags-invalidations N  tags: invalidateTags calls timed per size (default 200)
  --tags-reread-tags N    tags: tags known to the cache whose subscriber is killed (default 1000)
  --instrumentation-round-ms N
                          instrumentation: ms per variant per round of the hits (default 200, quick 60)
  --instrumentation-rounds N
                          instrumentation: rounds of the hits (default 10, quick 4)
  --out DIR               where results go (default bench/results)
`;

export function parseArgs(argv: string[], defaultOut: string): BenchArgs {
  const flags = new Map<string, string>();
  const quick = argv.includes('--quick');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') continue;
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!arg.startsWith('--') || i + 1 >= argv.length) throw new Error(`unexpected argument '${arg}'\n\n${USAGE}`);
    flags.set(arg.slice(2), argv[++i]);
  }
  const known = [
    'only',
    'strategies',
    'processes',
    'callers',
    'deltas',
    'repeats',
    'expiry-lanes',
    'expiry-ttl-ms',
    'expiry-fn-ms',
    'expiry-run-ms',
    'expiry-grace-ms',
    'crash-fn-ms',
    'crash-waiters',
    'crash-callers',
    'hit-round-ms',
    'hit-rounds',
    'coherence-readers',
    'coherence-keys',
    'coherence-phase-ms',
    'coherence-write-ms',
    'inflight',
    'churn',
    'l1-churn',
    'tags-round-ms',
    'tags-rounds',
    'tags-entries',
    'tags-invalidations',
    'tags-reread-tags',
    'instrumentation-round-ms',
    'instrumentation-rounds',
    'out',
  ];
  for (const name of flags.keys()) if (!known.includes(name)) throw new Error(`unknown option --${name}\n\n${USAGE}`);
  const int = (name: string, fallback: number) => {
    const text = flags.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer; got '${text}'`);
    return value;
  };
  const list = (name: string) => flags.get(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const phases = new Set(list('only') ?? PHASES);
  for (const phase of phases) if (!PHASES.includes(phase)) throw new Error(`unknown phase '${phase}'; known: ${PHASES.join(', ')}`);
  const deltas = list('deltas')?.map(Number) ?? (quick ? [50] : [50, 500, 2500]);
  if (deltas.some((d) => !Number.isFinite(d) || d < 0 || d > 60_000)) throw new Error('--deltas must be milliseconds between 0 and 60000');
  return {
    quick,
    phases,
    strategies: list('strategies'),
    processes: int('processes', quick ? 3 : 6),
    callers: int('callers', quick ? 20 : 50),
    deltasMs: deltas,
    repeats: int('repeats', quick ? 1 : 3),
    expiryLanes: int('expiry-lanes', quick ? 5 : 10),
    expiryTtlMs: int('expiry-ttl-ms', 1000),
    expiryFnMs: int('expiry-fn-ms', 300),
    expiryRunMs: int('expiry-run-ms', quick ? 4000 : 8000),
    expiryGraceMs: int('expiry-grace-ms', 10_000),
    crashFnMs: int('crash-fn-ms', quick ? 2000 : 4000),
    crashWaiters: int('crash-waiters', quick ? 2 : 3),
    crashCallers: int('crash-callers', quick ? 5 : 10),
    hitRoundMs: int('hit-round-ms', quick ? 60 : 300),
    hitRounds: int('hit-rounds', quick ? 4 : 8),
    hitScenarios: HIT_SCENARIOS.map((s) => ({ ...s })),
    coherenceReaders: int('coherence-readers', quick ? 2 : 4),
    coherenceKeys: int('coherence-keys', 50),
    coherencePhaseMs: int('coherence-phase-ms', quick ? 1500 : 3000),
    coherenceWriteMs: int('coherence-write-ms', 20),
    missSamples: quick ? 100 : 1000,
    inflight: int('inflight', quick ? 1000 : 10_000),
    churn: int('churn', quick ? 10_000 : 100_000),
    l1Churn: int('l1-churn', quick ? 100_000 : 1_000_000),
    tagsRoundMs: int('tags-round-ms', quick ? 60 : 200),
    tagsRounds: int('tags-rounds', quick ? 4 : 8),
    tagsEntries: int('tags-entries', quick ? 100_000 : 1_000_000),
    tagsInvalidations: int('tags-invalidations', 200),
    tagsRereadTags: int('tags-reread-tags', 1000),
    instrumentationRoundMs: int('instrumentation-round-ms', quick ? 60 : 200),
    instrumentationRounds: int('instrumentation-rounds', quick ? 4 : 10),
    out: flags.get('out') ?? defaultOut,
  };
}
