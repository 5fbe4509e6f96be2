import { randomUUID } from 'node:crypto';
import type { Store } from '../store/store';

/** How long to wait before subscribing again after a subscription attempt failed. */
const RESUBSCRIBE_MS = 1_000;
/** How often the channel sends itself an echo through Redis, to prove its subscription is alive. */
export const ECHO_MS = 1_000;
/** A subscription whose echo has not come back for this long is presumed dead: it is no longer trusted. */
export const DEAD_AFTER_MS = 3 * ECHO_MS;
/**
 * What this process learnt from the channel counts only while its event loop has polled for I/O within
 * STALL_MS: a loop blocked longer (a long synchronous task, a starved CPU) may have invalidations waiting
 * unread in the subscriber's socket. A pulse every PULSE_MS marks each poll (a setImmediate runs right
 * after one).
 */
export const STALL_MS = 50;
const PULSE_MS = 10;
/** After the subscriber connection's events, how soon the channel echoes to win trust back. */
const RECHECK_MS = 20;

/*
 * What travels on the namespace's invalidation channel. The first character says what it is:
 *   'k' <key>                 a write of one key (commit, set, delete)
 *   't' <version> '\n' <tag>  tag <tag> now has version <version> (invalidateTags; clear() is the epoch tag)
 *   '\0echo:' ...             a process's echo to itself
 * Anything else is ignored.
 */
export const KEY_MESSAGE = 'k';

/** The message telling every process that `tag` now has `version` (a version never holds '\n'). */
export function tagMessage(tag: string, version: string): string {
  return `t${version}\n${tag}`;
}

/** What the channel tells the memory tier and the tag versions. */
export interface InvalidationListener {
  /** A write of `key`. */
  key(key: string): void;
  /** Tag `tag` has a new version. */
  tag(tag: string, version: string): void;
  /** Invalidations may have been lost: what was learnt is no longer to be relied on. */
  lost(): void;
  /** Trust came back after a loss: what was learnt before it may have missed invalidations. */
  restored(): void;
}

/**
 * The namespace's invalidation channel, one subscription per cache. Invariants:
 * - it is trusted only while its subscription is proven live: every ECHO_MS it publishes an echo and must
 *   hear it back. The first echo heard after subscribing (or after a loss) proves the subscription live
 *   from the moment it was sent (`validFrom`); one missing for DEAD_AFTER_MS, a failed echo, a dropped
 *   or restored subscriber connection, or a command that could not reach Redis (`lost`), stops the
 *   trust, since invalidations sent meanwhile may be lost. Every write publishes on it from the very
 *   script that writes (lease/scripts.ts, tags/scripts.ts), so a write never lands without its message;
 * - `seq` orders everything this process sees: a read taken at `ticket()` may keep its result only if
 *   `confirmedSince(ticket)` and nothing that concerns it arrived after the ticket;
 * - it subscribes lazily, on the first ticket, and again after a failed attempt (no sooner than
 *   RESUBSCRIBE_MS); nothing it schedules throws.
 */
export class InvalidationChannel {
  /** Bumped by every message seen, every local write, every confirmation and every loss. */
  seq = 0;
  /** Reads sent before this (the latest confirmation) may have missed an invalidation. Infinity: not trusted. */
  private validFrom = Infinity;
  private subscribing = false;
  private retryAt = 0;
  private readonly echoPrefix = `\0echo:${randomUUID()}:`;
  /** seq at the moment each echo still unanswered was sent, by echo number. */
  private readonly echoes = new Map<number, number>();
  private echoCount = 0;
  private heardAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private pulse: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private readonly listeners: InvalidationListener[] = [];
  /** When this process last polled for I/O, as far as the pulse saw. */
  private polledAt = Date.now();
  private readonly polled = (): void => {
    this.polledAt = Date.now();
  };

  constructor(
    private readonly store: Store,
    readonly name: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  on(listener: InvalidationListener): void {
    this.listeners.push(listener);
  }

  /** Trusted, and the event loop is polling: what arrived has been read (`now`: Date.now()). */
  live(now: number): boolean {
    return this.validFrom !== Infinity && now - this.polledAt <= STALL_MS;
  }

  /** Trusted: every message sent since the latest confirmation has been (or will be) delivered. */
  get trusted(): boolean {
    return this.validFrom !== Infinity;
  }

  /** Taken before a read is sent; subscribes when there is no subscription yet. */
  ticket(): number {
    if (!this.subscribing && this.validFrom === Infinity && Date.now() >= this.retryAt) this.subscribe();
    return this.seq;
  }

  /** A read sent at `ticket` cannot have missed an invalidation delivered since, as far as the subscription goes. */
  confirmedSince(ticket: number): boolean {
    return ticket >= this.validFrom;
  }

  /**
   * Invalidations may have been lost (the subscriber connection dropped or came back, an echo went
   * missing, Redis could not be reached). `resubscribe`: the subscription itself is gone.
   */
  lost(resubscribe: boolean): void {
    this.seq++;
    this.validFrom = Infinity;
    this.echoes.clear();
    if (resubscribe) this.subscribing = false;
    for (const listener of this.listeners) listener.lost();
  }

  /**
   * The subscriber connection dropped or came back: echo again shortly rather than at the next tick, so
   * trust returns within a round trip of the subscription's return instead of up to ECHO_MS later. Only
   * the store's events call this (at most one pending), never a failed echo, so a dead server is not
   * polled faster.
   */
  recheck(): void {
    if (this.soon !== undefined || this.timer === undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      if (this.timer !== undefined) this.echo();
    }, RECHECK_MS);
    this.soon.unref();
  }

  close(): void {
    clearTimeout(this.soon);
    clearInterval(this.timer);
    clearInterval(this.pulse);
    this.timer = undefined;
    this.pulse = undefined;
    this.validFrom = Infinity;
  }

  private readonly listener = (message: Buffer): void => {
    const text = message.toString();
    const kind = text.charCodeAt(0);
    if (kind === 0x6b /* k */) {
      const key = text.slice(1);
      for (const listener of this.listeners) listener.key(key);
      return;
    }
    if (kind === 0x74 /* t */) {
      const end = text.indexOf('\n');
      if (end < 2) return;
      const version = text.slice(1, end);
      const tag = text.slice(end + 1);
      for (const listener of this.listeners) listener.tag(tag, version);
      return;
    }
    if (kind !== 0 || !text.startsWith(this.echoPrefix)) return; // another process's echo, or not ours to read
    const sentAt = this.echoes.get(Number(text.slice(this.echoPrefix.length)));
    if (sentAt === undefined) return;
    this.echoes.clear();
    this.heardAt = Date.now();
    if (this.validFrom !== Infinity) return;
    this.validFrom = sentAt;
    for (const listener of this.listeners) listener.restored();
  };

  /** Sends an echo; and if the last one heard is too old, stops trusting the subscription. */
  private echo(): void {
    if (this.validFrom !== Infinity && Date.now() - this.heardAt > DEAD_AFTER_MS) this.lost(false);
    const n = ++this.echoCount;
    this.echoes.set(n, ++this.seq);
    this.store.publish(this.name, this.echoPrefix + n).catch((error: unknown) => {
      this.lost(false);
      this.onError(error);
    });
  }

  private subscribe(): void {
    this.subscribing = true;
    this.store.listen(this.name, this.listener).then(
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
