import { asyncCacheDedupe } from './async-cache-dedupe';
import { bentocache } from './bentocache';
import { cacheManager } from './cache-manager';
import { cachifiedStrategy } from './cachified';
import { design2014 } from './design-2014';
import { herdless } from './herdless';
import { naive } from './naive';
import type { Strategy } from './strategy';

/** Every strategy, in table order: the baselines, herdless, then the peers. */
export const STRATEGIES: readonly Strategy[] = [naive, design2014, herdless, bentocache, cachifiedStrategy, asyncCacheDedupe, cacheManager];

export function strategy(name: string): Strategy {
  const found = STRATEGIES.find((s) => s.name === name);
  if (!found) throw new Error(`unknown strategy '${name}'; known: ${STRATEGIES.map((s) => s.name).join(', ')}`);
  return found;
}
