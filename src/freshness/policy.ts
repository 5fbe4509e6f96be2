import type { Envelope } from '../envelope';

/** How one call treats a stored value: its age (ttl, grace, earlyRefresh, the timeouts, forceFresh), the memory tier and its tags, resolved. */
export interface Freshness {
  /** How long a value is fresh. */
  readonly ttlMs: number;
  /** How long past its ttl a stale value may still be served while it is refreshed. 0: never. */
  readonly graceMs: number;
  /** XFetch's β. 0: no early refresh. */
  readonly beta: number;
  /** With a stale value at hand, how long a caller waits for the refresh before it gets the stale value. */
  readonly softTimeoutMs: number;
  /** The longest a caller without a stale value waits for a computation. 0: no limit. */
  readonly hardTimeoutMs: number;
  /** After a failed refresh, how long no caller anywhere starts another. */
  readonly backoffMs: number;
  /** Compute now, whatever is stored. */
  readonly forceFresh: boolean;
  /** May this call read and fill the memory tier (when the cache has one). */
  readonly l1: boolean;
  /** The tags a value this call computes is stored under (checked); the epoch is added to every stamp. */
  readonly tags: readonly string[] | undefined;
}

/** A call's policy with the tags its flight stores the value under (what a computation needs; a hit never does). */
export function tagged(policy: Freshness, flight: { readonly tags: readonly string[] | undefined }): Freshness {
  return flight.tags === undefined ? policy : { ...policy, tags: flight.tags };
}

export const enum Age {
  /** Serve it. */
  Fresh,
  /** Serve it, and refresh it in the background: it is close to its expiry. */
  Early,
  /** Past its ttl, within grace: serve it while one caller in the fleet refreshes it. */
  Stale,
  /** Past its ttl and grace: a miss. */
  Gone,
}

/**
 * How early a refresh may start, at most, as a multiple of the function's time (δ·β). XFetch alone starts
 * a refresh once `now − δ·β·ln(rand())` reaches the expiry; with R reads a second, across a fleet, the
 * earliest of those draws lands about δ·β·ln(R·δ) before it, which at thousands of reads a second is
 * right after each write: a hot key would be recomputed back to back. Capping the draw keeps a hot key to
 * one refresh per window, started 2·δ·β before the expiry, early enough for a function whose time varies
 * to finish before it.
 */
export const EARLY_LIMIT = 2;

/**
 * Judges a value by the reader's clock against the writer's timestamps (envelope.ts). Invariants:
 * - a value past its ttl is never Fresh or Early, so early refresh never serves anything older than ttl;
 * - a refresh starts at most min(EARLY_LIMIT·δ·β, ttl/2) before the expiry: at most two per ttl whatever
 *   the read rate, and none in the first half of a value's life;
 * - nothing is served past ttl + grace; and Redis, by its own clock, drops the entry by then, so a reader
 *   whose clock runs slow serves nothing older than the writer's ttl + grace (README, "Clocks").
 * The common case (fresh, far from the expiry) costs one subtraction and a comparison.
 */
export function judge(envelope: Envelope, now: number, policy: Freshness): Age {
  const left = envelope.expiresAt - now;
  if (left > 0) {
    if (policy.beta === 0) return Age.Fresh;
    const window = Math.min(EARLY_LIMIT * envelope.delta * policy.beta, (envelope.expiresAt - envelope.writtenAt) / 2);
    if (left > window) return Age.Fresh;
    // XFetch: −ln(rand) is an exponential draw; rand in (0, 1].
    return -envelope.delta * policy.beta * Math.log(1 - Math.random()) >= left ? Age.Early : Age.Fresh;
  }
  return -left < policy.graceMs ? Age.Stale : Age.Gone;
}
