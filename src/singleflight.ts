import type { CallRecord } from './telemetry/record';

/**
 * In-process coalescing: while a call for a key is in flight, further calls for that key in this process
 * share its result (one Redis conversation, one factory run). Nothing is kept once it settles: a later
 * call starts afresh and reads the cache. Invariants:
 * - a detached flight keeps the callers it has, but no later call joins it. The cache detaches a flight
 *   once it knows the flight's result may predate an invalidation (a delete() or set() of its key
 *   resolved, its lease was lost or voided), so a call that starts after that never receives it;
 * - a joiner waits for another caller's computation no longer than a caller in another process would:
 *   `joinTimeoutMs` from when it joined or when the computation began, whichever is later; then its own
 *   `onLate(key, context)` answers it, with the context the joiner passed (so a hit allocates nothing for it). Joiners of a flight that is only reading (a hit, a wait with its own deadline)
 *   are not timed;
 * - a call never joins a flight that started before something that could invalidate its value was seen
 *   (a change of one of its tags, a clear(), a loss of the invalidation channel: the Gate says).
 */
export class Flight<T> implements CallRecord {
  /** Callers that joined, in order; created for the first one. */
  joiners: Joiner<T, unknown>[] | undefined;
  computingSince: number | undefined;
  timer: NodeJS.Timeout | undefined;
  call!: Promise<T>;
  // The call's record (telemetry/record.ts): the flight is the one call that runs; its joiners are counted apart.
  outcome: CallRecord['outcome'] = undefined;
  tier: CallRecord['tier'] = undefined;
  factoryMs: number | undefined = undefined;
  waitMs: number | undefined = undefined;
  context: CallRecord['context'] = undefined;
  constructor(
    readonly key: string,
    /** The gate's clock when the flight started. */
    readonly since: number,
    /** The tags its caller stores the value under; undefined: none declared, so any change counts. */
    readonly tags: readonly string[] | undefined,
  ) {}
}

/** What tells whether a flight's value may have been invalidated since it started (tags/versions.ts). */
export interface Gate {
  now(): number;
  unchangedSince(tags: readonly string[] | undefined, since: number): boolean;
}

interface Joiner<T, C> {
  readonly joinedAt: number;
  readonly resolve: (value: T | PromiseLike<T>) => void;
  readonly reject: (error: unknown) => void;
  readonly context: C;
  done: boolean;
}

export class SingleFlight<T, C> {
  /**
   * The flights in the air, by key. Every call, a hit included, adds its key and removes it once it
   * settles, so this is on the hit path. A null-prototype object (V8 keeps it in dictionary mode, a hash
   * table of its own) instead of a Map: a Map churned at that rate (with the Set that store/deadline.ts
   * used the same way) made the hit benchmark's scavenges promote three times as much and last 3.3 ms
   * instead of 1.2, over 1 us more per hit and a p99 of 4 ms. Without a prototype every string is a
   * plain key, '__proto__' and 'constructor' included.
   */
  private readonly flights: Record<string, Flight<T> | undefined> = Object.create(null);
  /** Calls that joined a flight and got its answer, and those answered by onLate instead (cache.stats()). */
  joined = 0;
  late = 0;

  constructor(
    private readonly joinTimeoutMs: number,
    private readonly onLate: (key: string, context: C) => Promise<T>,
    private readonly gate: Gate,
    /** Called once per flight when it settles, with its record complete (cache.stats()). */
    private readonly onSettled: (flight: Flight<T>) => void = () => undefined,
  ) {}

  /**
   * `context`: what `onLate` needs to answer this caller should it join and wait too long; `tags`: what
   * the caller's value is stored under.
   */
  do(key: string, fn: (flight: Flight<T>) => Promise<T>, context: C, tags?: readonly string[]): Promise<T> {
    const current = this.flights[key];
    if (current && this.gate.unchangedSince(current.tags, current.since)) return this.join(current, context);
    const flight = new Flight<T>(key, this.gate.now(), tags);
    const call = fn(flight);
    flight.call = call;
    this.flights[key] = flight;
    const settle = () => {
      this.detach(flight);
      if (flight.timer) clearTimeout(flight.timer);
      this.onSettled(flight);
    };
    call.then(settle, settle);
    return call;
  }

  /** No later call joins this flight. */
  detach(flight: Flight<T>): void {
    if (this.flights[flight.key] === flight) delete this.flights[flight.key];
  }

  /** No later call joins whatever is in flight for `key`. */
  detachKey(key: string): void {
    delete this.flights[key];
  }

  /** The flight now waits for a computation (this process leads it): its joiners' clocks start. */
  computing(flight: Flight<T>): void {
    if (flight.computingSince !== undefined) return;
    flight.computingSince = Date.now();
    this.schedule(flight);
  }

  /** How many keys have a flight in the air (counted, not kept: nothing on the hit path reads it). */
  get size(): number {
    return Object.keys(this.flights).length;
  }

  private join(flight: Flight<T>, context: C): Promise<T> {
    if (!flight.joiners) {
      const joiners: Joiner<T, unknown>[] = [];
      flight.joiners = joiners;
      const answer = (settle: (joiner: Joiner<T, unknown>) => void) => {
        for (const joiner of joiners) {
          if (joiner.done) continue;
          joiner.done = true;
          this.joined++;
          settle(joiner);
        }
      };
      flight.call.then(
        (value) => answer((joiner) => joiner.resolve(value)),
        (error) => answer((joiner) => joiner.reject(error)),
      );
    }
    const joiners = flight.joiners;
    return new Promise<T>((resolve, reject) => {
      joiners.push({ joinedAt: Date.now(), resolve, reject, context, done: false });
      if (flight.computingSince !== undefined && !flight.timer) this.schedule(flight);
    });
  }

  /** One timer per computing flight, set for its earliest joiner still waiting. */
  private schedule(flight: Flight<T>): void {
    const joiners = flight.joiners;
    if (!joiners || flight.computingSince === undefined) return;
    while (joiners.length > 0 && joiners[0].done) joiners.shift();
    if (joiners.length === 0) return;
    const due = Math.max(joiners[0].joinedAt, flight.computingSince) + this.joinTimeoutMs;
    flight.timer = setTimeout(() => {
      flight.timer = undefined;
      const now = Date.now();
      for (const joiner of joiners) {
        if (joiner.done) continue;
        if (Math.max(joiner.joinedAt, flight.computingSince!) + this.joinTimeoutMs > now) break;
        joiner.done = true;
        this.late++;
        // onLate may throw synchronously (a factory that throws): it still answers this joiner only.
        new Promise<T>((resolve) => resolve(this.onLate(flight.key, joiner.context as C))).then(joiner.resolve, joiner.reject);
      }
      this.schedule(flight);
    }, Math.max(0, due - Date.now()));
    flight.timer.unref();
  }
}
