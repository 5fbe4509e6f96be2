import { isHerdless } from '../strategies';
import type { HerdRow } from '../phases/herd';
import { round } from '../lib/stats';
import type { Results, Target } from './results';

/** The targets for herdless, judged on this run's numbers; undefined where a phase did not run. */
export function targets(results: Omit<Results, 'targets'>): Target[] {
  // Herd targets hold on Redis Cluster too: its rows are judged with the standalone ones.
  const herd = results.herd.filter((r) => isHerdless(r.strategy));
  const at = (r: HerdRow) => (r.strategy === 'herdless' ? `${r.deltaMs} ms` : `${r.strategy.replace('herdless-', '')}, ${r.deltaMs} ms`);
  const hits = results.hits.filter((r) => r.strategy === 'herdless');
  const naiveHits = (concurrency: number) => results.hits.find((r) => r.strategy === 'naive' && r.concurrency === concurrency);
  const callers = (n: number) => `${n} caller${n > 1 ? 's' : ''}`;
  const versusNaive = hits.map((r) => ({ r, naive: naiveHits(r.concurrency) })).filter((x) => x.naive);
  const expiry = (results.expiry ?? []).filter((r) => (r.strategy === 'herdless' || r.strategy === 'herdless-early') && !r.error);
  const steady = (results.expiry ?? []).find((r) => r.strategy === 'herdless-steady' && !r.error);
  const windows = (r: { runMs: number; ttlMs: number }) => Math.ceil(r.runMs / r.ttlMs);
  const miss = results.miss.find((r) => r.strategy === 'herdless');
  const minimum = results.miss[0];
  return [
    {
      target: 'factory runs = 1 in every herd row',
      measured: herd.map((r) => `${r.factoryRuns} (${at(r)})`).join(', ') || 'not run',
      met: herd.length ? herd.every((r) => r.factoryRuns === 1) : undefined,
    },
    {
      target: 'waiter p99 latency - delta <= 10 ms',
      measured: herd.map((r) => `${r.p99OverDeltaMs} ms (${at(r)})`).join(', ') || 'not run',
      met: herd.length ? herd.every((r) => r.p99OverDeltaMs <= 10) : undefined,
    },
    {
      target: 'hit throughput >= 0.9x naive GET + decode of the same bytes, same run',
      measured: versusNaive.map(({ r, naive }) => `${round(r.ratio / naive!.ratio, 3)}x (${r.ratio}x vs ${naive!.ratio}x raw GET, ${callers(r.concurrency)})`).join('; ') || 'not run',
      met: versusNaive.length ? versusNaive.every(({ r, naive }) => r.ratio >= 0.9 * naive!.ratio) : undefined,
    },
    {
      target: 'hit p99 <= 2x raw GET p99',
      measured: hits.map((r) => `${r.cacheP99Us} vs ${r.rawP99Us} us (${callers(r.concurrency)})`).join('; ') || 'not run',
      met: hits.length ? hits.every((r) => r.cacheP99Us <= 2 * r.rawP99Us) : undefined,
    },
    {
      target: 'expiry: about one factory run per ttl window for the whole fleet (at most 1.5 per window)',
      measured: expiry.map((r) => `${r.factoryRuns} runs in ${windows(r)} windows (${r.strategy})`).join(', ') || 'not run',
      met: expiry.length ? expiry.every((r) => (r.factoryRuns ?? Infinity) <= 1.5 * windows(r)) : undefined,
    },
    {
      target: 'expiry: 0 blocked calls after the first fill',
      measured: expiry.map((r) => `${r.blocked} (${r.strategy})`).join(', ') || 'not run',
      met: expiry.length ? expiry.every((r) => r.blocked === 0 && r.failed === 0) : undefined,
    },
    {
      target: 'expiry: p99 within 2x the hit p99 (herdless-steady, same fleet and load)',
      measured: steady ? expiry.map((r) => `${r.p99Ms} vs ${steady.p99Ms} ms (${r.strategy})`).join(', ') : 'not run',
      met: steady && expiry.length ? expiry.every((r) => (r.p99Ms ?? Infinity) <= 2 * (steady.p99Ms ?? 0)) : undefined,
    },
    {
      target: 'leader miss = 2 round trips beyond the factory',
      measured: miss ? `${miss.roundTrips} (minimum GET + SET: ${minimum.roundTrips})` : 'not run',
      met: miss ? miss.roundTrips <= 2 : undefined,
    },
  ];
}
