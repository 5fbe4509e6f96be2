import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { onCleanup } from './cleanup';
import { epochNow } from './time';

export interface Request {
  type: string;
  [field: string]: unknown;
}

/**
 * Worker processes running bench/worker.ts, each answering one request at a time. A worker that exits
 * fails its pending request; every worker is killed at cleanup, and exits by itself if the parent goes.
 * The crash phase kills one with SIGKILL (crash) and forks its successor in its place (respawn), so every
 * phase holding the Worker keeps a live process behind it.
 */
export class Worker {
  private next = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private exited = false;
  private child: ChildProcess;

  constructor(private readonly spawn: () => ChildProcess) {
    this.child = this.watch(spawn());
  }

  private watch(child: ChildProcess): ChildProcess {
    child.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(`worker ${child.pid}: ${message.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const waiter of this.pending.values()) waiter.reject(new Error(`worker ${child.pid} exited (${signal ?? code})`));
      this.pending.clear();
    });
    return child;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited;
  }

  request<T>(request: Request): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.pid} has exited`));
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ id, ...request });
    });
  }

  /**
   * Kills the process with SIGKILL, as a crash would: no handler of its own runs, and the OS closes its
   * sockets, Redis connections included. Resolves once it has exited, with the epoch ms (sub-ms) at which
   * the signal was sent.
   */
  async crash(): Promise<number> {
    if (this.exited) throw new Error(`worker ${this.pid} has exited`);
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    const at = epochNow();
    this.child.kill('SIGKILL');
    await gone;
    return at;
  }

  /** Forks a new process in place of one that exited, as the first was forked; resolves once it is ready. */
  async respawn(): Promise<void> {
    if (!this.exited) throw new Error(`worker ${this.pid} is still running`);
    this.exited = false;
    this.child = this.watch(this.spawn());
    await this.request({ type: 'ready' });
  }

  /** Kills the process at once: the last resort at exit, when nothing async can run. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Asks the worker to leave, then kills it if it has not within 3 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect?.();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(timer);
  }
}

/** Forks `count` workers, compiled on the fly by ts-node; extra flags (e.g. --expose-gc) go to node. */
export async function startWorkers(count: number, nodeFlags: string[] = []): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (let i = 0; i < count; i++) {
    const spawn = () =>
      fork(join(__dirname, '..', 'worker.ts'), [], {
        execArgv: [...nodeFlags, '-r', 'ts-node/register/transpile-only'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
    const worker = new Worker(spawn);
    onCleanup(
      () => worker.stop(),
      () => worker.kill(),
    );
    workers.push(worker);
  }
  // Each worker answers 'ready' once its modules are loaded, so timings never include compilation.
  await Promise.all(workers.map((w) => w.request({ type: 'ready' })));
  return workers;
}

export async function stopWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}
