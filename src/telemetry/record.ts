import type { Factory } from '../protocol';
import type { Flight } from '../singleflight';
import type { GetOrSetContext, Outcome, RefreshContext, RefreshOutcome } from './channels';

/**
 * What one call learns of itself as it goes: a getOrSet's flight (singleflight.ts), or one background
 * refresh attempt. Invariants:
 * - the outcome is the last one noted: a lead that is then fenced says 'fence', one that then loses Redis
 *   'uncached'; a takeover stays a takeover when it goes on to lead;
 * - it is counted once, when the call settles (cache.stats() counts outcomes, not guesses);
 * - `context` is the public context a diagnostics subscriber sees, when one listens: every note is
 *   written there too, before the context's `asyncEnd` is published. Without a subscriber it stays
 *   undefined and nothing is built.
 */
export interface CallRecord {
  outcome: Outcome | RefreshOutcome | undefined;
  tier: 'memory' | 'redis' | undefined;
  factoryMs: number | undefined;
  waitMs: number | undefined;
  context: GetOrSetContext | RefreshContext | undefined;
}

/** A refresh attempt's record: no tier, and its own context when `herdless:refresh` has a subscriber. */
export function refreshRecord(context: RefreshContext | undefined): CallRecord {
  return { outcome: undefined, tier: undefined, factoryMs: undefined, waitMs: undefined, context };
}

/** A flight whose call is traced carries the call's context: what the flight notes is written there too. */
export function traced(flight: Flight<unknown>, trace: GetOrSetContext | undefined): Flight<unknown> {
  if (trace !== undefined) flight.context = trace;
  return flight;
}

/**
 * What a call that joined another in flight needs should it wait too long (singleflight.ts, onLate): its
 * function, and its trace when traced. Untraced, the function itself: a joiner allocates nothing for it.
 */
export type Joining = Factory<unknown> | { readonly factory: Factory<unknown>; readonly trace: GetOrSetContext };

export function joinerFactory(joining: Joining): Factory<unknown> {
  return typeof joining === 'function' ? joining : joining.factory;
}

/** A late joiner's own record (its trace's context when traced): the flight's is another call's. */
export function joinerRecord(joining: Joining): CallRecord {
  const context = typeof joining === 'function' ? undefined : joining.trace;
  return { outcome: undefined, tier: undefined, factoryMs: undefined, waitMs: undefined, context };
}
