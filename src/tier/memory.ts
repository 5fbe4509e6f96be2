import { LRUCache } from 'lru-cache';
import type { Envelope } from '../envelope';
import type { InvalidationChannel } from '../bus/invalidations';
import { deepFreeze, freezable } from './frozen';

export interface MemorySettings {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** 'frozen': one deep-frozen value shared by every hit (when it can be frozen); 'copy': each hit decodes its own. */
  readonly values: 'frozen' | 'copy';
}

/** Keys whose latest invalidation is remembered for the fill race; past this, all are forgotten at once. */
const REMEMBERED_INVALIDATIONS = 10_000;
/**
 * What an entry costs beyond its stored bytes, counted against maxBytes: the key (two bytes a character),
 * the entry and lru-cache's bookkeeping; a shared value also counts its decoded objects, about its
 * stored size again (bench: memory phase).
 */
const ENTRY_OVERHEAD = 160;

/** An entry: the envelope's times, and either the one shared (frozen) value or the bytes each hit decodes. */
interface Held extends Envelope {
  /** The stored bytes, when every hit decodes its own copy; undefined when `value` is shared. */
  readonly bytes: Buffer | undefined;
  /** What the entry counts against maxBytes. */
  readonly size: number;
  /** The shared value as a settled promise, made on the first hit: every later hit hands out this one. */
  answer: Promise<unknown> | undefined;
}

/**
 * The memory tier (L1): stored envelopes kept in this process. Invariants:
 * - it answers only while the namespace's invalidation channel is live (bus/invalidations.ts): trusted,
 *   and the event loop polling, so every write published before a hit has been read. Every write
 *   publishes its key there from the very script that writes (lease/scripts.ts);
 * - entries held when trust was lost are suspect: they answer only `lastKnown` (a caller whose Redis
 *   cannot be reached, within grace, as a stale value), and are all dropped when trust comes back;
 * - the fill race: a value read from Redis is kept only if the channel was confirmed before the read
 *   was sent and no invalidation of its key, and no loss, arrived since (`ticket`);
 * - this process's own writes drop its entry at once, before they resolve;
 * - an entry carries its tag stamp, judged by the cache at every hit (tags/versions.ts): a tag's
 *   invalidation needs no index of the entries carrying it;
 * - callers never share a mutable object: a value is shared only deep-frozen (frozen.ts), else each hit
 *   decodes its own copy;
 * - it is bounded by entries and by bytes (lru-cache).
 */
export class MemoryTier {
  private readonly lru: LRUCache<string, Held>;
  private readonly share: boolean;
  /** Entries are held from before the latest loss: they must go before trust comes back. */
  private suspect = false;
  private readonly invalidatedAt = new Map<string, number>();
  /** Invalidations before this were forgotten: reads sent before it are refused. */
  private floor = 0;
  /** Entries dropped to stay within maxEntries or maxBytes (cache.stats()). */
  private evictions = 0;

  constructor(
    settings: MemorySettings,
    private readonly channel: InvalidationChannel,
    private readonly decode: (key: string, bytes: Buffer) => Envelope | undefined,
  ) {
    this.share = settings.values === 'frozen';
    this.lru = new LRUCache<string, Held>({
      max: settings.maxEntries,
      maxSize: settings.maxBytes,
      sizeCalculation: (held) => held.size,
      // Only the bounds' evictions are counted: an entry dropped by an invalidation was not evicted.
      disposeAfter: (_held, _key, reason) => {
        if (reason === 'evict') this.evictions++;
      },
    });
    channel.on({
      key: (key) => this.invalidated(key),
      tag: () => undefined,
      lost: () => {
        this.suspect = this.lru.size > 0;
      },
      // Trust comes back: what was held before the loss may have missed invalidations.
      restored: () => {
        if (this.suspect) this.lru.clear();
        this.suspect = false;
      },
    });
  }

  /** The entry of `key`, while the channel is live (`now`: Date.now()). */
  get(key: string, now: number): Envelope | undefined {
    if (!this.channel.live(now)) return undefined;
    return this.lru.get(key);
  }

  /**
   * What a caller gets from an entry: the shared frozen value (one promise for every hit: a hit then
   * allocates nothing), or its own decoded copy; undefined if the copy cannot be decoded.
   */
  answer(key: string, envelope: Envelope): Promise<unknown> | undefined {
    const held = envelope as Held;
    if (held.bytes === undefined) return (held.answer ??= Promise.resolve(held.value));
    const copy = this.decode(key, held.bytes);
    return copy === undefined ? undefined : Promise.resolve(copy.value);
  }

  /** The entry of `key` even when the tier is not trusted: only for a caller whose Redis cannot be reached. */
  lastKnown(key: string): Envelope | undefined {
    return this.lru.get(key);
  }

  /** Taken before a read is sent; `fill` keeps its result only if nothing could have made it stale since. */
  ticket(): number {
    return this.channel.ticket();
  }

  /**
   * A value read from Redis for a caller of this tier. Returns what the caller gets: the value frozen
   * when it can be (so a hit from memory and one from Redis behave alike), and keeps it if `ticket` allows.
   */
  fill(key: string, bytes: Buffer, envelope: Envelope, ticket: number): unknown {
    const shared = this.freeze(envelope.value);
    if (!this.channel.confirmedSince(ticket) || ticket < this.floor) return envelope.value;
    const invalidated = this.invalidatedAt.get(key);
    if (invalidated !== undefined && invalidated > ticket) return envelope.value;
    const size = (shared ? 2 : 1) * bytes.length + key.length * 2 + ENTRY_OVERHEAD;
    const { writtenAt, expiresAt, delta, stamp } = envelope;
    this.lru.set(key, { writtenAt, expiresAt, delta, stamp, value: shared ? envelope.value : undefined, bytes: shared ? undefined : bytes, size, answer: undefined });
    return envelope.value;
  }

  /** A value read from Redis that will not be kept (stale, close to expiry): frozen all the same, for a caller of this tier. */
  settle(value: unknown): unknown {
    this.freeze(value);
    return value;
  }

  /** Freezes `value` when values are shared and freezing protects it; says whether it did. */
  private freeze(value: unknown): boolean {
    if (!this.share || !freezable(value)) return false;
    deepFreeze(value);
    return true;
  }

  /** A write of `key` was seen (published by a script, or made by this process). */
  invalidated(key: string): void {
    const seq = ++this.channel.seq;
    this.lru.delete(key);
    if (this.invalidatedAt.size >= REMEMBERED_INVALIDATIONS) {
      this.invalidatedAt.clear();
      this.floor = seq;
    }
    this.invalidatedAt.set(key, seq);
  }

  /** Every entry goes (clear()): none could be served again. */
  clear(): void {
    this.lru.clear();
  }

  close(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  /** What cache.stats() reports of the tier: entries, the bytes counted against maxBytes, and evictions. */
  usage(): { entries: number; bytes: number; evictions: number } {
    return { entries: this.lru.size, bytes: this.lru.calculatedSize, evictions: this.evictions };
  }
}
