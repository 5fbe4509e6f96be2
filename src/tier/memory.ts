import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Envelope } from '../envelope';
import type { Store } from '../store/store';
import { deepFreeze, freezable } from './frozen';

export interface MemorySettings {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** 'frozen': one deep-frozen value shared by every hit (when it can be frozen); 'copy': each hit decodes its own. */
  readonly values: 'frozen' | 'copy';
}

/** How long to wait before subscribing again after a subscription attempt failed. */
const RESUBSCRIBE_MS = 1_000;
/** How often the tier sends itself an echo through Redis, to prove its subscription is alive. */
export const ECHO_MS = 1_000;
/** A subscription whose echo has not come back for this long is presumed dead: the tier stops answering. */
export const DEAD_AFTER_MS = 3 * ECHO_MS;
/**
 * The tier answers only while this process's event loop has polled for I/O within STALL_MS: a loop
 * blocked longer (a long synchronous task, a starved CPU) may have invalidations waiting unread in the
 * subscriber's socket. A pulse every PULSE_MS marks each poll (a setImmediate runs right after one).
 */
export const STALL_MS = 50;
const PULSE_MS = 10;
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
 * - it answers only while the namespace's invalidation subscription is trusted: every ECHO_MS the tier
 *   publishes an echo on the channel and must hear it back. The first echo heard after subscribing (or
 *   after a loss) proves the subscription live from the moment it was sent; one missing for
 *   DEAD_AFTER_MS, a failed echo, a dropped or restored subscriber connection, or a command that could
 *   not reach Redis, stops the trust, since invalidations sent meanwhile may be lost. Every write
 *   publishes its key there from the very script that writes (lease/scripts.ts), so a write never lands
 *   without its invalidation;
 * - nor while the event loop has not polled for I/O for STALL_MS: invalidations may be waiting unread;
 * - entries held when trust was lost are suspect: they answer only `lastKnown` (a caller whose Redis
 *   cannot be reached, within grace, as a stale value), and are all dropped when trust comes back;
 * - the fill race: a value read from Redis is kept only if the subscription was proven live before the
 *   read was sent and no invalidation of its key, and no loss, arrived since (`ticket`);
 * - this process's own writes drop its entry at once, before they resolve;
 * - callers never share a mutable object: a value is shared only deep-frozen (frozen.ts), else each hit
 *   decodes its own copy;
 * - it is bounded by entries and by bytes (lru-cache).
 */
export class MemoryTier {
  private readonly lru: LRUCache<string, Held>;
  private readonly share: boolean;
  /** Bumped by every invalidation seen, every local write, every confirmation and every loss. */
  private seq = 0;
  /** Reads sent before this (the latest confirmation) may have missed an invalidation. */
  private validFrom = Infinity;
  /** Entries are held from before the latest loss: they must go before trust comes back. */
  private suspect = false;
  private readonly invalidatedAt = new Map<string, number>();
  /** Invalidations before this were forgotten: reads sent before it are refused. */
  private floor = 0;
  private subscribing = false;
  private retryAt = 0;
  private readonly echoPrefix = `\0echo:${randomUUID()}:`;
  /** seq at the moment each echo still unanswered was sent, by echo number. */
  private readonly echoes = new Map<number, number>();
  private echoCount = 0;
  private heardAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private pulse: NodeJS.Timeout | undefined;
  /** When this process last polled for I/O, as far as the pulse saw. */
  private polledAt = Date.now();
  private readonly polled = (): void => {
    this.polledAt = Date.now();
  };

  constructor(
    settings: MemorySettings,
    private readonly store: Store,
    private readonly channel: string,
    private readonly decode: (key: string, bytes: Buffer) => Envelope | undefined,
    private readonly onError: (error: unknown) => void,
  ) {
    this.share = settings.values === 'frozen';
    this.lru = new LRUCache<string, Held>({ max: settings.maxEntries, maxSize: settings.maxBytes, sizeCalculation: (held) => held.size });
  }

  /** The entry of `key`, while the tier can be trusted (`now`: Date.now()). */
  get(key: string, now: number): Envelope | undefined {
    if (this.validFrom === Infinity || now - this.polledAt > STALL_MS) return undefined;
    return this.lru.get(key);
  }

  /**
   * What a caller gets from an entry: the shared frozen value (one promise for every hit: a hit then
   * allocates nothing), or its own decoded copy; undefined if the copy cannot be decoded.
   */
  answer(envelope: Envelope): Promise<unknown> | undefined {
    const held = envelope as Held;
    if (held.bytes === undefined) return (held.answer ??= Promise.resolve(held.value));
    const copy = this.decode('', held.bytes);
    return copy === undefined ? undefined : Promise.resolve(copy.value);
  }

  /** The entry of `key` even when the tier is not trusted: only for a caller whose Redis cannot be reached. */
  lastKnown(key: string): Envelope | undefined {
    return this.lru.get(key);
  }

  /** Taken before a read is sent; `fill` keeps its result only if nothing could have made it stale since. */
  ticket(): number {
    if (!this.subscribing && this.validFrom === Infinity && Date.now() >= this.retryAt) this.subscribe();
    return this.seq;
  }

  /**
   * A value read from Redis for a caller of this tier. Returns what the caller gets: the value frozen
   * when it can be (so a hit from memory and one from Redis behave alike), and keeps it if `ticket` allows.
   */
  fill(key: string, bytes: Buffer, envelope: Envelope, ticket: number): unknown {
    const shared = this.freeze(envelope.value);
    if (ticket < this.validFrom || ticket < this.floor) return envelope.value;
    const invalidated = this.invalidatedAt.get(key);
    if (invalidated !== undefined && invalidated > ticket) return envelope.value;
    const size = (shared ? 2 : 1) * bytes.length + key.length * 2 + ENTRY_OVERHEAD;
    const { writtenAt, expiresAt, delta } = envelope;
    this.lru.set(key, { writtenAt, expiresAt, delta, value: shared ? envelope.value : undefined, bytes: shared ? undefined : bytes, size, answer: undefined });
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
    this.seq++;
    this.lru.delete(key);
    if (this.invalidatedAt.size >= REMEMBERED_INVALIDATIONS) {
      this.invalidatedAt.clear();
      this.floor = this.seq;
    }
    this.invalidatedAt.set(key, this.seq);
  }

  /**
   * Invalidations may have been lost (the subscriber connection dropped or came back, an echo went
   * missing, Redis could not be reached). `resubscribe`: the subscription itself is gone.
   */
  lost(resubscribe: boolean): void {
    this.seq++;
    this.validFrom = Infinity;
    this.suspect = this.lru.size > 0;
    this.echoes.clear();
    if (resubscribe) this.subscribing = false;
  }

  close(): void {
    clearInterval(this.timer);
    clearInterval(this.pulse);
    this.timer = undefined;
    this.pulse = undefined;
    this.lru.clear();
    this.validFrom = Infinity;
  }

  get size(): number {
    return this.lru.size;
  }

  private readonly listener = (message: Buffer): void => {
    const text = message.toString();
    if (text.charCodeAt(0) !== 0) return this.invalidated(text);
    if (!text.startsWith(this.echoPrefix)) return; // another process's echo
    const sentAt = this.echoes.get(Number(text.slice(this.echoPrefix.length)));
    if (sentAt === undefined) return;
    this.echoes.clear();
    this.heardAt = Date.now();
    if (this.validFrom !== Infinity) return;
    // Trust comes back: what was held before the loss may have missed invalidations.
    if (this.suspect) this.lru.clear();
    this.suspect = false;
    this.validFrom = sentAt;
  };

  /** Sends an echo; and if the last one heard is too old, stops trusting the subscription. */
  private echo(): void {
    if (this.validFrom !== Infinity && Date.now() - this.heardAt > DEAD_AFTER_MS) this.lost(false);
    const n = ++this.echoCount;
    this.echoes.set(n, ++this.seq);
    this.store.publish(this.channel, this.echoPrefix + n).catch((error: unknown) => {
      this.lost(false);
      this.onError(error);
    });
  }

  private subscribe(): void {
    this.subscribing = true;
    this.store.listen(this.channel, this.listener).then(
      () => {
        if (!this.timer) {
          this.timer = setInterval(() => this.echo(), ECHO_MS);
          this.timer.unref();
          this.pulse = setInterval(() => setImmediate(this.polled), PULSE_MS);
          this.pulse.unref();
        }
        this.heardAt = Date.now();
        this.echo();
      },
      (error: unknown) => {
        this.subscribing = false;
        this.retryAt = Date.now() + RESUBSCRIBE_MS;
        this.onError(error);
      },
    );
  }
}
