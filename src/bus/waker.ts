import { withDeadline } from '../store/deadline';
import type { Store } from '../store/store';

interface Channel {
  readonly wakers: Set<(message: Buffer) => void>;
  readonly listener: (message: Buffer) => void;
  readonly subscribed: Promise<void>;
}

/**
 * Wake-ups for waiters, over one subscriber connection per cache, one subscription per channel however
 * many waiters share it. Pub/sub is fire-and-forget, so `listen` resolves only once the subscription is
 * confirmed: a waiter that re-checks after that cannot miss the leader's wake-up. If subscribing fails the
 * waiter is told nothing and simply polls.
 */
export class Waker {
  private readonly channels = new Map<string, Channel>();

  constructor(
    private readonly store: Store,
    private readonly timeoutMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  async listen(name: string, wake: (message: Buffer) => void): Promise<() => void> {
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
    try {
      await withDeadline(joined.subscribed, this.timeoutMs, 'SUBSCRIBE');
    } catch (error) {
      this.onError(error);
    }
    return stop;
  }

  /** The subscriptions were lost (a cluster topology change): later waiters subscribe again; current ones poll. */
  forgetAll(): void {
    this.channels.clear();
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
