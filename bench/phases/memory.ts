import type { Worker } from '../lib/fleet';
import type { MemoryRequest, MemoryResult } from '../worker/memory';

export type MemoryRow = MemoryResult & Omit<MemoryRequest, 'url'>;

/** herdless's heap per in-flight key and what stays after many keys; the worker runs with --expose-gc. */
export async function runMemory(worker: Worker, request: MemoryRequest, log: (line: string) => void): Promise<MemoryRow> {
  const result = await worker.request<MemoryResult>({ type: 'memory', ...request });
  const { url: _url, ...shape } = request;
  const row = { ...shape, ...result };
  log(
    `memory herdless: ${Math.round(row.leaderPerKey)} B per in-flight key (leader), ${Math.round(row.waiterPerKey)} B (waiter); ` +
      `${kb(row.afterInflight)} left after ${row.inflight} in flight, ${kb(row.afterChurn)} after ${row.churn} keys came and went`,
  );
  return row;
}

export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
