/**
 * In-process coalescing: while a call for a key is in flight, further calls for that key in this process
 * share its promise (one Redis conversation, one factory run). Nothing is kept once it settles: a later
 * call starts afresh and reads the cache.
 */
export class SingleFlight<T> {
  private readonly calls = new Map<string, Promise<T>>();

  do(key: string, fn: () => Promise<T>): Promise<T> {
    const current = this.calls.get(key);
    if (current) return current;
    const call = fn();
    this.calls.set(key, call);
    const forget = () => {
      if (this.calls.get(key) === call) this.calls.delete(key);
    };
    call.then(forget, forget);
    return call;
  }

  get size(): number {
    return this.calls.size;
  }
}
