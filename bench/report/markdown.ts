import { kb } from '../phases/memory';
import type { Results } from './results';

const yes = (met: boolean | undefined) => (met === undefined ? 'not run' : met ? 'met' : '**missed**');
const num = (v: number | null | undefined) => (v === undefined || v === null || !Number.isFinite(v) ? '-' : String(v));
const pipes = (s: string) => s.replace(/\|/g, '\\|');

/** The run as markdown tables: what the README shows, and what a reviewer checks against the JSON. */
export function markdown(results: Results, chartFile: string | undefined, expiryChartFile?: string): string {
  const env = results.environment;
  const lines: string[] = [];
  lines.push(`# herdless benchmark (${results.mode})`, '');
  lines.push(`\`${results.command}\`, ${results.startedAt}, ${results.durationSeconds} s.`);
  lines.push(
    `Node ${env.node}, Redis ${env.redis}, ${env.cores} cores (${env.cpu}), ${env.memoryGiB} GiB, ${env.os}, load average ${env.loadAverage.join(' ')}; herdless ${env.herdless}; ` +
      Object.entries(env.packages)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ') +
      '.',
    '',
  );
  if (results.herd.length) {
    const { processes, callers, repeats } = results.herd[0];
    lines.push(`## Herd: ${processes} processes x ${callers} callers on one cold key (${repeats} herd${repeats > 1 ? 's' : ''} per row)`, '');
    if (chartFile) lines.push(`![factory runs and p99 latency per strategy](${chartFile})`, '');
    lines.push('| strategy | factory time | factory runs | failed | p50 ms | p99 ms | max ms | p99 - factory ms | hand-off p50 / p99 ms | Redis cmds/call | equal values |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of results.herd) {
      lines.push(
        `| ${r.strategy} | ${r.deltaMs} ms | ${r.factoryRuns} | ${r.failed} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.p99OverDeltaMs} | ${r.handoffP50Ms === undefined ? '-' : `${r.handoffP50Ms} / ${r.handoffP99Ms}`} | ${r.commandsPerCall} | ${r.equalValues ? 'yes' : `no (${r.distinctValues})`} |`,
      );
    }
    lines.push(
      '',
      'Factory runs: the most in any herd of the row (the function counts its runs in each process). Latencies pool every herd of the row, each measured from the moment the process fired its callers. Hand-off: how long after the first factory run returned the callers of processes that ran no factory got their answer (- where every process computed). Redis cmds/call counts every command Redis ran (INFO commandstats), those inside scripts included. Equal values: whether every caller of a herd got the same value (type and content); the number is the most distinct values in one herd.' +
        (results.herd.some((r) => r.strategy === 'herdless-cluster')
          ? ' herdless-cluster: the same herd against a local Redis Cluster (3 masters + 3 replicas on this machine), its commands summed over the masters (the replicas\' REPLCONF acknowledgements left out).'
          : ''),
      '',
    );
  }
  const expiry = results.expiry ?? [];
  if (expiry.length) {
    const { processes, lanes, ttlMs, fnMs, runMs, graceMs, minimumRuns } = expiry[0];
    lines.push(`## Expiry: ${processes} processes x ${lanes} lanes calling one hot key back to back for ${runMs / 1000} s (ttl ${ttlMs} ms, function ${fnMs} ms)`, '');
    if (expiryChartFile) lines.push(`![factory runs and blocked calls per strategy across expiries](${expiryChartFile})`, '');
    lines.push('| strategy | factory runs | runs per process | calls | blocked | p50 ms | p99 ms | p999 ms | max ms | stale calls | staleness p99 / max ms | Redis cmds/call | failed |');
    lines.push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of expiry) {
      if (r.error) {
        lines.push(`| ${r.strategy} | could not run: ${pipes(r.error)} | - | - | - | - | - | - | - | - | - | - | - |`);
        continue;
      }
      lines.push(
        `| ${r.strategy} | ${r.factoryRuns} | ${r.runsPerProcess.join(' / ')} | ${r.calls} | ${r.blocked} | ${num(r.p50Ms)} | ${num(r.p99Ms)} | ${num(r.p999Ms)} | ${num(r.maxMs)} | ${r.staleCalls} | ${num(r.staleP99Ms)} / ${num(r.staleMaxMs)} | ${num(r.commandsPerCall)} | ${r.failed}${r.errors.length ? ` (${pipes(r.errors[0])})` : ''} |`,
      );
    }
    lines.push(
      '',
      `Minimum to compare factory runs with: ceil(run / (ttl + function)) = ceil(${runMs} / (${ttlMs} + ${fnMs})) = ${minimumRuns} for the fleet: the first fill, then one refresh per expiry, a value living ttl after it was computed and its successor taking the function's time (a cache that refreshes ahead and never serves a stale value needs about ceil(run / ttl) = ${Math.ceil(runMs / ttlMs)}). ` +
        'Factory runs are counted fleet-wide by an INCR in Redis in every run; runs per process are each process\'s own count. ' +
        `Calls, blocked, latencies and staleness leave out each lane's first call (the key is cold, so it fills the cache or waits for the fill). Blocked: calls slower than half the function's time (${fnMs / 2} ms). ` +
        `Staleness of a served value: answered at - computedAt - ttl (the function returns the time it computed); <= 0 is fresh, stale calls count those above 0. Redis cmds/call: every command Redis ran (INFO commandstats) over every call, first calls included, the benchmark's own INCRs and QUITs left out. Caches with a stale-while-revalidate mode run with it, grace ${graceMs} ms; their setup is below.`,
      '',
      '| strategy | setup in this phase |',
      '| --- | --- |',
      ...expiry.map((r) => `| ${r.strategy} | \`${r.setup}\` |`),
      '',
    );
  }
  if (results.hits.length) {
    lines.push('## Hits against raw GET of the same key on the same connection', '');
    lines.push('| strategy | callers | hits/s | raw GET/s | ratio (worst round) | hit p50 / p99 us | GET p50 / p99 us |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.hits) {
      lines.push(`| ${r.strategy} | ${r.concurrency} | ${r.cacheOpsPerSec} | ${r.rawOpsPerSec} | ${r.ratio}x (${r.minRatio}x) | ${r.cacheP50Us} / ${r.cacheP99Us} | ${r.rawP50Us} / ${r.rawP99Us} |`);
    }
    lines.push('', 'Each caller loops on its own key (one key for 1 caller), so no in-process coalescing helps; raw and cache rounds alternate and the ratio is the median of the per-round ratios. With 1 caller a hit is bound by the round trip (a request handler reading the cache); with 32 callers the process is CPU-bound and the ratio is what decoding and bookkeeping cost next to a pipelined GET that decodes nothing.', '');
  }
  if (results.miss.length) {
    lines.push("## A leader's miss (factory of 0 ms)", '');
    lines.push('| strategy | round trips | beyond GET + SET | commands in scripts | p50 us | p99 us | p50 vs minimum |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.miss) {
      lines.push(`| ${r.strategy} | ${r.roundTrips} | ${r.extraRoundTrips} | ${r.scriptCommands} | ${r.p50Us} | ${r.p99Us} | ${r.vsMinimum}x |`);
    }
    lines.push('', 'Round trips are the commands the client sent, counted by MONITOR.', '');
  }
  if (results.memory) {
    const m = results.memory;
    lines.push('## Memory (herdless, process heap after GC)', '');
    lines.push('| measure | value |', '| --- | ---: |');
    lines.push(`| heap per in-flight key, leader | ${Math.round(m.leaderPerKey)} B |`);
    lines.push(`| heap per in-flight key, waiter (${m.waitersSeen} of ${m.inflight} waiting) | ${Math.round(m.waiterPerKey)} B |`);
    lines.push(`| heap left after ${m.inflight} in-flight keys settled | ${kb(m.afterInflight)} |`);
    lines.push(`| heap left after ${m.churn} distinct keys came and went | ${kb(m.afterChurn)} |`);
    lines.push('', `Per-key figures exclude the caller's own pending promise (${Math.round(m.controlPerKey)} B, measured alone).`, '');
  }
  lines.push('## Targets', '', '| target | measured | status |', '| --- | --- | --- |');
  for (const t of results.targets) lines.push(`| ${t.target} | ${t.measured} | ${yes(t.met)} |`);
  lines.push('', '## How each strategy is set up', '', '| strategy | setup |', '| --- | --- |');
  for (const s of results.strategies) lines.push(`| ${s.name} | \`${s.setup}\` |`);
  return lines.join('\n') + '\n';
}
