import { LRUCache } from 'lru-cache';
import type { Store } from '../store/store';

export interface MemorySettings {
  readonly maxEntries: number;
  readonly maxBytes: number;
}

import { randomUUID } from 'node:crypto';

/** How long to wait before subscribing again after a subscription attempt failed. */
const RESUBSCRIBE_MS = 1_000;
/** How often the tier sends itself an echo through Redis, to prove its subscription is alive. */
export const ECHO_MS = 1_000;
/** A subscription whose echo has not come back for this long is presumed dead: the tier stops answering. */
export const DEAD_AFTER_MS = 3 * ECHO_MS;
/** Keys whose latest invalidation is remembered for the fill race; past this, all are forgotten at once. */
const REMEMBERED_INVALIDATIONS = 10_000;

/**
 * The memory tier (L1): stored envelopes, as the bytes Redis returned, kept in this process. Invariants:
 * - it answers only while the namespace's invalidation subscription is trusted: every ECHO_MS the tier
 *   publishes an echo on the channel and must hear it back. The first echo heard after subscribing (or
 *   after a loss) proves the subscription live from the moment it was sent; one missing for
 *   DEAD_AFTER_MS, or a dropped or restored subscriber connection, clears the tier, since invalidations
 *   sent meanwhile may be lost. Every write publishes its key there from the very script that writes
 *   (lease/scripts.ts), so a write never lands without its invalidation;
 * - the fill race: bytes read from Redis are kept only if the subscription was proven live before the
 *   read was sent and no invalidation of their key, and no loss, arrived since (`ticket`);
 * - this process's own writes drop its entry at once, before they resolve;
 * - it keeps bytes, and every hit decodes its own copy: callers never share one object;
 * - it is bounded by entries and by bytes (lru-cache).
 */
export class MemoryTier {
  private readonly lru: LRUCache<string, Buffer>;
  /** Bumped by every invalidation seen, every local write, every confirmation and every loss. */
  private seq = 0;
  /** Reads sent before this (the latest confirmation) may have missed an invalidation. */
  private validFrom = Infinity;
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

  constructor(
    settings: MemorySettings,
    private readonly store: Store,
    private readonly channel: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.lru = new LRUCache<string, Buffer>({ max: settings.maxEntries, maxSize: settings.maxBytes, sizeCalculation: (bytes, key) => bytes.length + key.length * 2 + 64 });
  }

  /** The stored bytes of `key`, while the tier can be trusted. */
  get(key: string): Buffer | undefined {
    if (this.validFrom === Infinity) return undefined;
    return this.lru.get(key);
  }

  /** Taken before a read is sent; `fill` keeps its result only if nothing could have made it stale since. */
  ticket(): number {
    if (!this.subscribing && this.validFrom === Infinity && Date.now() >= this.retryAt) this.subscribe();
    return this.seq;
  }

  fill(key: string, bytes: Buffer, ticket: number): void {
    if (ticket < this.validFrom || ticket < this.floor) return;
    const invalidated = this.invalidatedAt.get(key);
    if (invalidated !== undefined && invalidated > ticket) return;
    this.lru.set(key, bytes);
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

  /** Invalidations may have been lost (the subscriber connection dropped or came back, an echo went missing). */
  lost(resubscribe: boolean): void {
    this.seq++;
    this.validFrom = Infinity;
    this.echoes.clear();
    this.lru.clear();
    if (resubscribe) this.subscribing = false;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
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
    if (this.validFrom === Infinity) this.validFrom = sentAt;
  };

  /** Sends an echo; and if the last one heard is too old, stops trusting the subscription. */
  private echo(): void {
    if (this.validFrom !== Infinity && Date.now() - this.heardAt > DEAD_AFTER_MS) this.lost(false);
    const n = ++this.echoCount;
    this.echoes.set(n, ++this.seq);
    this.store.publish(this.channel, this.echoPrefix + n).catch(this.onError);
  }

  private subscribe(): void {
    this.subscribing = true;
    this.store.subscribe(this.channel, this.listener).then(
      () => {
        if (!this.timer) {
          this.timer = setInterval(() => this.echo(), ECHO_MS);
          this.timer.unref();
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
