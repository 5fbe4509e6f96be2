import { asyncCacheDedupe } from './async-cache-dedupe';
import { bentocache } from './bentocache';
import { cacheManager } from './cache-manager';
import { cachifiedStrategy } from './cachified';
import { design2014 } from './design-2014';
import { herdless } from './herdless';
import { herdlessCluster } from './herdless-cluster';
import { naive } from './naive';
import type { Strategy } from './strategy';

/** Every strategy, in table order: the baselines, herdless (standalone, then cluster), then the peers. */
export const STRATEGIES: readonly Strategy[] = [naive, design2014, herdless, herdlessCluster, bentocache, cachifiedStrategy, asyncCacheDedupe, cacheManager];

export function strategy(name: string): Strategy {
  const found = STRATEGIES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown strategy '${name}'; known: ${STRATEGIES.map((s) => s.name).join(', ')}`);
  return found;
}

/** herdless's rows, whatever the Redis: the ones the targets and the smoke test judge. */
export function isHerdless(name: string): boolean {
  return name === herdless.name || name === herdlessCluster.name;
}
