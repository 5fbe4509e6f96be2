import { asyncCacheDedupe } from './async-cache-dedupe';
import { bentocache, bentocacheL1 } from './bentocache';
import { cacheManager, cacheManagerL1 } from './cache-manager';
import { cachifiedStrategy } from './cachified';
import { design2014 } from './design-2014';
import { herdless, herdlessEarly, herdlessL1, herdlessL1Copy, herdlessSteady } from './herdless';
import { herdlessCluster } from './herdless-cluster';
import { naive } from './naive';
import type { Strategy } from './strategy';

/**
 * Every strategy, in table order: the baselines (the expiry phase's steady-hits row among them), herdless
 * (standalone, with its memory tier, its expiry-only early-refresh row, then cluster), then the peers,
 * then the peers' tiered setups (memory in front of Redis: the hits and coherence phases only).
 */
export const STRATEGIES: readonly Strategy[] = [
  naive,
  design2014,
  herdlessSteady,
  herdless,
  herdlessL1,
  herdlessL1Copy,
  herdlessEarly,
  herdlessCluster,
  bentocache,
  cachifiedStrategy,
  asyncCacheDedupe,
  cacheManager,
  bentocacheL1,
  cacheManagerL1,
];

export function strategy(name: string): Strategy {
  const found = STRATEGIES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown strategy '${name}'; known: ${STRATEGIES.map((s) => s.name).join(', ')}`);
  return found;
}

/** herdless's rows, whatever the Redis or setup: the ones the targets and the smoke test judge. */
export function isHerdless(name: string): boolean {
  return name === herdless.name || name === herdlessL1.name || name === herdlessL1Copy.name || name === herdlessEarly.name || name === herdlessCluster.name || name === herdlessSteady.name;
}

/**
 * Phases a strategy runs in only when it names them: the coherence phase needs a cache that can write
 * (set); the instrumentation phase measures herdless's own channels, which no peer publishes.
 */
const OPT_IN_PHASES = ['coherence', 'instrumentation'];

/**
 * Whether a strategy runs in a phase: the tags phase if it says how it uses tags (tagSetup: the phase
 * needs a cache with tags); else the ones it names, else every phase but the opt-in ones for a standalone
 * strategy and the herd alone for one on Redis Cluster (the other phases compare strategies on one server).
 */
export function runsIn(strategy: Strategy, phase: string): boolean {
  if (phase === 'tags') return strategy.tagSetup !== undefined;
  if (strategy.phases) return strategy.phases.includes(phase);
  if (OPT_IN_PHASES.includes(phase)) return false;
  return strategy.topology === 'cluster' ? phase === 'herd' : true;
}
