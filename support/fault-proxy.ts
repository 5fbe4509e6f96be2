import net from 'node:net';

/*
 * A TCP proxy between a cache and Redis that injects network faults, after toxiproxy's model, in the
 * test's own process so a test needs nothing installed. Each accepted connection gets its own connection
 * to the target; bytes flow through two pipes, client→Redis ("up") and Redis→client ("down"), and each
 * fault acts on them. Faults apply to existing and new connections alike, combine with each other, and
 * last until heal().
 *
 * Exact semantics:
 * - latency(ms, jitterMs = 0), both directions: each chunk the proxy reads is delivered ms + U[0, jitterMs)
 *   later, and never before a chunk read earlier in the same direction (TCP does not reorder). Chunks
 *   already waiting keep the time they were given.
 * - bandwidth(bytesPerSec), Redis→client: each connection delivers at most bytesPerSec, paced by a token
 *   bucket that holds 1/50 s worth of bytes (a burst of that size may go at once, never more).
 * - blackhole(), both directions: nothing is delivered; sockets stay open (no FIN, no RST), so each side
 *   sees a silent, half-open peer. New connections are accepted and connected to Redis, then as silent.
 *   Bytes are held in order, not dropped, and delivered on heal(): a partition that ends before TCP gives
 *   up ends with the retransmitted bytes arriving. (Dropping bytes inside a live connection is something
 *   TCP never does; it would hand node-redis the replies of other commands.)
 * - reset(): once, now: every open connection is destroyed with RST on both sides (socket.resetAndDestroy),
 *   bytes in flight are lost. Later connections are not affected.
 * - closeAfter(bytes), Redis→client: each connection delivers `bytes` more bytes (existing ones counted
 *   from now, new ones from their start), then closes: FIN to the client right after them, so a reply is
 *   cut where the count ends, and the Redis side destroyed.
 * - slice(bytes = 1), Redis→client: pieces of at most `bytes`, each its own write() and TCP segment (no
 *   Nagle); the next is written once the previous was flushed and the event loop has polled once, so a
 *   reader usually gets each piece in a read of its own.
 * - heal(): every fault off, held bytes delivered. Connections already closed stay closed.
 */

export interface FaultProxy {
  /** redis://127.0.0.1:<port>, for a client to connect through the proxy. */
  readonly url: string;
  readonly port: number;
  latency(ms: number, jitterMs?: number): void;
  bandwidth(bytesPerSec: number): void;
  blackhole(): void;
  reset(): void;
  closeAfter(bytes: number): void;
  slice(bytes?: number): void;
  heal(): void;
  /** Client connections open now. */
  connections(): number;
  /** Closes the listener and destroys every connection. */
  stop(): Promise<void>;
}

interface Faults {
  latencyMs: number;
  jitterMs: number;
  /** 0: unlimited. */
  bytesPerSec: number;
  blackholed: boolean;
  /** 0: whole chunks. */
  sliceBytes: number;
  /** Bytes a new connection delivers before it is closed; Infinity: no limit. */
  closeAfter: number;
}

const healthy = (): Faults => ({ latencyMs: 0, jitterMs: 0, bytesPerSec: 0, blackholed: false, sliceBytes: 0, closeAfter: Infinity });

// A pipe stops reading its source past this many queued bytes (a throttled or held connection), so the
// proxy's memory stays bounded and the sender feels TCP's back-pressure as it would on a slow link.
const HIGH_WATER = 4 * 1024 * 1024;

/** One direction of one connection. `null` in the queue is the source's FIN, forwarded in order. */
class Pipe {
  private readonly queue: { bytes: Buffer | null; at: number }[] = [];
  private queued = 0;
  /** A write, or a timer before the next one, is pending. */
  private busy = false;
  /** Bandwidth: bytes that may be written now (a token bucket holding at most 1/50 s worth). */
  private credit = 0;
  private refilledAt = Date.now();
  /** closeAfter: bytes still to deliver (down only). */
  budget: number;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly faults: Faults,
    private readonly down: boolean,
    private readonly cut: () => void,
  ) {
    this.budget = down ? faults.closeAfter : Infinity;
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push(null));
  }

  private push(bytes: Buffer | null): void {
    const { latencyMs, jitterMs } = this.faults;
    const due = Date.now() + latencyMs + (jitterMs > 0 ? Math.random() * jitterMs : 0);
    const last = this.queue.length > 0 ? this.queue[this.queue.length - 1].at : 0;
    this.queue.push({ bytes, at: Math.max(due, last) });
    this.queued += bytes?.length ?? 0;
    if (this.queued > HIGH_WATER) this.from.pause();
    this.pump();
  }

  pump(): void {
    if (this.busy || this.faults.blackholed || this.to.destroyed) return;
    const head = this.queue[0];
    if (head === undefined) return;
    const { bytesPerSec, sliceBytes } = this.faults;
    const wait = head.at - Date.now();
    if (wait > 0) return this.later(wait);
    if (head.bytes === null) {
      this.queue.shift();
      this.to.end();
      return;
    }
    let size = head.bytes.length;
    if (this.down && sliceBytes > 0) size = Math.min(size, sliceBytes);
    size = Math.min(size, this.budget);
    if (size <= 0) return this.cut();
    if (this.down && bytesPerSec > 0) {
      const burst = Math.max(1, Math.floor(bytesPerSec / 50));
      const now = Date.now();
      this.credit = Math.min(burst, this.credit + ((now - this.refilledAt) * bytesPerSec) / 1000);
      this.refilledAt = now;
      size = Math.min(size, burst);
      if (this.credit < size) return this.later(Math.ceil(((size - this.credit) * 1000) / bytesPerSec));
      this.credit -= size;
    }
    const piece = head.bytes.subarray(0, size);
    if (size === head.bytes.length) this.queue.shift();
    else head.bytes = head.bytes.subarray(size);
    this.queued -= size;
    if (this.queued <= HIGH_WATER / 2 && this.from.isPaused()) this.from.resume();
    this.budget -= size;
    this.busy = true;
    this.to.write(piece, () => {
      const next = () => {
        this.busy = false;
        if (this.budget <= 0) this.cut();
        else this.pump();
      };
      // A slice waits for the event loop to poll, so the reader can take this piece on its own.
      if (this.down && this.faults.sliceBytes > 0) setImmediate(next);
      else next();
    });
  }

  private later(ms: number): void {
    this.busy = true;
    setTimeout(() => {
      this.busy = false;
      this.pump();
    }, ms);
  }
}

class Connection {
  readonly up: Pipe;
  readonly down: Pipe;
  private closed = false;
  private cutting = false;

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
    faults: Faults,
    onClose: () => void,
  ) {
    client.setNoDelay(true);
    server.setNoDelay(true);
    this.up = new Pipe(client, server, faults, false, () => this.cut());
    this.down = new Pipe(server, client, faults, true, () => this.cut());
    const close = (hadError: boolean) => {
      // A side that failed takes the other down; a side that ended has its FIN forwarded by its pipe.
      if (hadError) this.destroy();
      if (client.destroyed && server.destroyed && !this.closed) {
        this.closed = true;
        onClose();
      }
    };
    for (const socket of [client, server]) {
      socket.on('error', () => this.destroy());
      socket.on('close', close);
    }
  }

  /** closeAfter's end: FIN to the client once what was written is flushed; Redis' side goes at once. */
  cut(): void {
    if (this.cutting) return;
    this.cutting = true;
    this.server.destroy();
    this.client.end(() => this.client.destroy());
  }

  reset(): void {
    for (const socket of [this.client, this.server]) {
      // resetAndDestroy needs a connected TCP handle; one still connecting is just destroyed.
      try {
        socket.resetAndDestroy();
      } catch {
        socket.destroy();
      }
    }
  }

  destroy(): void {
    this.client.destroy();
    this.server.destroy();
  }
}

/** Listens on a free loopback port and forwards each connection to `target`. */
export async function startFaultProxy({ target }: { target: { host: string; port: number } }): Promise<FaultProxy> {
  const faults = healthy();
  const open = new Set<Connection>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const connection = new Connection(client, upstream, faults, () => open.delete(connection));
    open.add(connection);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const pumpAll = () => open.forEach((c) => (c.up.pump(), c.down.pump()));
  // Pipes read the live settings object, so a change reaches existing connections at their next piece.
  const set = (change: Partial<Faults>) => {
    Object.assign(faults, change);
    pumpAll();
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    latency: (ms, jitterMs = 0) => set({ latencyMs: ms, jitterMs }),
    bandwidth: (bytesPerSec) => set({ bytesPerSec }),
    blackhole: () => set({ blackholed: true }),
    reset: () => [...open].forEach((c) => c.reset()),
    closeAfter: (bytes) => {
      faults.closeAfter = bytes;
      open.forEach((c) => (c.down.budget = bytes));
      pumpAll();
    },
    slice: (bytes = 1) => set({ sliceBytes: bytes }),
    heal: () => {
      // Mutated in place: every pipe holds this same object.
      Object.assign(faults, healthy());
      open.forEach((c) => (c.down.budget = Infinity));
      pumpAll();
    },
    connections: () => open.size,
    stop: async () => {
      open.forEach((c) => c.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
