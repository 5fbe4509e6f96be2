import { isHerdless } from '../strategies';
import type { HerdRow } from '../phases/herd';
import type { Results, Target } from './results';

/** The targets for herdless, judged on this run's numbers; undefined where a phase did not run. */
export function targets(results: Omit<Results, 'targets'>): Target[] {
  // Herd targets hold on Redis Cluster too: its rows are judged with the standalone ones.
  const herd = results.herd.filter((r) => isHerdless(r.strategy));
  const at = (r: HerdRow) => (r.strategy === 'herdless' ? `${r.deltaMs} ms` : `${r.strategy.replace('herdless-', '')}, ${r.deltaMs} ms`);
  const hits = results.hits.filter((r) => r.strategy === 'herdless');
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
      target: 'hit throughput >= 0.9x raw GET',
      measured: hits.map((r) => `${r.ratio}x, worst round ${r.minRatio}x (${r.concurrency} caller${r.concurrency > 1 ? 's' : ''})`).join('; ') || 'not run',
      met: hits.length ? hits.every((r) => r.ratio >= 0.9) : undefined,
    },
    {
      target: 'leader miss = 2 round trips beyond the factory',
      measured: miss ? `${miss.roundTrips} (minimum GET + SET: ${minimum.roundTrips})` : 'not run',
      met: miss ? miss.roundTrips <= 2 : undefined,
    },
  ];
}
