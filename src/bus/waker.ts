import { withDeadline } from '../store/deadline';
import type { Store } from '../store/store';

const EMPTY = Buffer.alloc(0);

interface Channel {
  readonly wakers: Set<(message: Buffer) => void>;
  readonly listener: (message: Buffer) => void;
  readonly subscribed: Promise<void>;
}

/** A waiter's subscription: `trusted()` while its wake-ups can be relied on. */
export interface Listening {
  stop(): void;
  trusted(): boolean;
}

/**
 * Wake-ups for waiters, over one subscriber connection per cache, one subscription per channel however
 * many waiters share it. Invariants:
 * - `listen` resolves only once the subscription is confirmed: a waiter that re-checks after that cannot
 *   miss the leader's wake-up, so while the subscription stays trusted it needs no polling, only a
 *   re-check when the holder's lease would expire (a holder that dies sends nothing);
 * - a subscription is trusted from its confirmation until the subscriber connection drops, comes back or
 *   the topology changes (`lost`): wake-ups may have been lost then, so every waiter is woken at once to
 *   re-check, and from then on polls. If subscribing fails, the waiter is not trusted and polls.
 */
export class Waker {
  private readonly channels = new Map<string, Channel>();
  // Bumped on every loss: a subscription confirmed in an older generation is no longer trusted.
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly timeoutMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  async listen(name: string, wake: (message: Buffer) => void): Promise<Listening> {
    let channel = this.channels.get(name);
    if (!channel) channel = this.subscribe(name);
    const joined = channel;
    joined.wakers.add(wake);
    const stop = () => {
      joined.wakers.delete(wake);
      if (joined.wakers.size > 0 || this.channels.get(name) !== joined) return;
      this.channels.delete(name);
      this.store.unsubscribe(name, joined.listener).catch(this.onError);
    };
    let confirmed = false;
    try {
      await withDeadline(joined.subscribed, this.timeoutMs, 'SUBSCRIBE');
      confirmed = true;
    } catch (error) {
      this.onError(error);
    }
    // Counted from the confirmation: a loss before it cannot hide a wake-up the waiter's re-check would miss.
    const generation = this.generation;
    const trusted = confirmed ? () => generation === this.generation : () => false;
    return { stop, trusted };
  }

  /**
   * Wake-ups may have been lost: every current waiter is woken to re-check, and polls from then on.
   * `resubscribe`: the subscriptions themselves are gone (a cluster topology change), so later waiters
   * subscribe again.
   */
  lost(resubscribe: boolean): void {
    this.generation++;
    const channels = [...this.channels.values()];
    if (resubscribe) this.channels.clear();
    for (const channel of channels) channel.listener(EMPTY);
  }

  private subscribe(name: string): Channel {
    const wakers = new Set<(message: Buffer) => void>();
    const listener = (message: Buffer) => {
      for (const wake of wakers) wake(message);
    };
    const subscribed = this.store.subscribe(name, listener);
    const channel: Channel = { wakers, listener, subscribed };
    // A failed subscription is forgotten so the next waiter tries again.
    subscribed.catch(() => {
      if (this.channels.get(name) === channel) this.channels.delete(name);
    });
    this.channels.set(name, channel);
    return channel;
  }
}
