import type { InvalidationChannel } from '../bus/invalidations';
import { RedisUnavailableError, refusedBy } from '../errors';
import { Age, judge, type Freshness } from '../freshness/policy';
import type { Factory, Protocol } from '../protocol';
import { isErrorReply } from '../store/store';
import type { VersionBook } from '../tags/versions';
import type { GetOrSetContext } from '../telemetry/channels';
import type { Observer } from '../telemetry/observer';
import type { CallRecord } from '../telemetry/record';
import type { MemoryTier } from './memory';

/**
 * What a caller of the memory tier may be answered from it. Invariants:
 * - as fresh, only an entry the tier holds while its channel is live, fresh by its age, and valid by its
 *   tags as this process knows them, without a round trip;
 * - when Redis cannot be reached, only as a stale value would be (within grace, never as fresh: another
 *   process may still reach Redis and write), and never an entry this process has heard was invalidated.
 */
export class MemoryAnswers {
  constructor(
    private readonly memory: MemoryTier,
    private readonly channel: InvalidationChannel,
    private readonly tags: VersionBook,
    private readonly observer: Observer,
    private readonly protocol: () => Protocol,
  ) {}

  /** The answer of a fresh entry, or undefined. */
  fresh(key: string, policy: Freshness, trace: GetOrSetContext | undefined): Promise<unknown> | undefined {
    const now = Date.now();
    const held = this.memory.get(key, now);
    if (held === undefined || judge(held, now, policy) !== Age.Fresh || this.tags.judge(held.stamp) !== true) return undefined;
    const answer = this.memory.answer(key, held);
    if (answer !== undefined) this.observer.memoryHit(key, trace);
    return answer;
  }

  /**
   * Redis could not be reached: the tier stops trusting its entries (the bus may be as cut off as the
   * GET); the one it holds for `key` may answer as a stale value, else the function runs without the cache.
   */
  unreachable(key: string, factory: Factory<unknown>, policy: Freshness, error: unknown, record: CallRecord): Promise<unknown> {
    if (!isErrorReply(error)) this.channel.lost(false);
    const held = policy.graceMs > 0 ? this.memory.lastKnown(key) : undefined;
    // Its tags cannot be judged without Redis; one this process has heard was invalidated is not served.
    if (held !== undefined && !this.tags.contradicts(held.stamp) && judge(held, Date.now(), policy) !== Age.Gone) {
      const answer = this.memory.answer(key, held);
      if (answer !== undefined) {
        const what = `answering '${key}' from memory, as a stale value`;
        // A refusal by the ACL is coded apart from Redis being unavailable, and names the command (refusedBy).
        this.observer.fault(error instanceof RedisUnavailableError ? error : (refusedBy(what, error) ?? new RedisUnavailableError(`${what}: ${(error as Error)?.message ?? error}`, error)), key);
        this.observer.stale(key, 'memory', record);
        return answer;
      }
    }
    return this.protocol().uncached(key, factory, error, record);
  }
}
