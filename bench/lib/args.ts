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
  hitRoundMs: number;
  hitRounds: number;
  hitConcurrency: number[];
  missSamples: number;
  inflight: number;
  churn: number;
  out: string;
}

export const PHASES = ['herd', 'expiry', 'hits', 'miss', 'memory'];

export const USAGE = `npm run bench [-- options]

  --quick                 small numbers, about a minute (CI smoke test)
  --only herd,hits,...    phases to run (herd, expiry, hits, miss, memory); default all
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
  --hit-round-ms N        ms per side per round of the hit benchmark
  --hit-rounds N          alternating rounds of the hit benchmark
  --inflight N            keys in flight for the memory phase (default 10000)
  --churn N               distinct keys that come and go (default 100000)
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
  const known = ['only', 'strategies', 'processes', 'callers', 'deltas', 'repeats', 'expiry-lanes', 'expiry-ttl-ms', 'expiry-fn-ms', 'expiry-run-ms', 'expiry-grace-ms', 'hit-round-ms', 'hit-rounds', 'inflight', 'churn', 'out'];
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
    hitRoundMs: int('hit-round-ms', quick ? 60 : 300),
    hitRounds: int('hit-rounds', quick ? 4 : 8),
    hitConcurrency: [1, 32],
    missSamples: quick ? 100 : 1000,
    inflight: int('inflight', quick ? 1000 : 10_000),
    churn: int('churn', quick ? 10_000 : 100_000),
    out: flags.get('out') ?? defaultOut,
  };
}
