import { getDefaultCache, setDefaultCache } from '../decorators/default-cache';
import type { Cache } from '../src/cache';

/** One module's cache made the default for `@Cached`, and what it replaced. */
export interface Installation {
  readonly cache: Cache;
  /** The default before this one. */
  readonly previous: Cache | undefined;
  /** The installation that `previous` came from, if it was another module's. */
  readonly under: Installation | undefined;
  removed: boolean;
}

// The installation in effect. Applications sharing a process (an e2e suite, one app per test) may close
// in any order; each restores what was there before it, skipping any that has closed since: restoring
// a closed cache would leave @Cached failing with ClosedError.
let current: Installation | undefined;

/** Makes `cache` the default cache. */
export function install(cache: Cache): Installation {
  const previous = getDefaultCache();
  const under = current !== undefined && !current.removed && current.cache === previous ? current : undefined;
  current = { cache, previous, under, removed: false };
  setDefaultCache(cache);
  return current;
}

/** Gives the default back to what `installation` replaced, unless something else has replaced it since. */
export function uninstall(installation: Installation): void {
  if (installation.removed) return;
  installation.removed = true;
  // Installed over by a module still running: that one's shutdown restores past this one.
  if (current !== installation) return;
  current = undefined;
  // setDefaultCache() was called since by the application itself: its choice stays.
  if (getDefaultCache() !== installation.cache) return;
  let below = installation;
  while (below.under?.removed) below = below.under;
  current = below.under;
  setDefaultCache(below.under !== undefined ? below.under.cache : below.previous);
}
