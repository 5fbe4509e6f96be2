import type { Worker } from '../lib/fleet';
import type { MemoryL1Request, MemoryL1Result, MemoryRequest, MemoryResult } from '../worker/memory';

/** The memory phase; `l1` is absent from results made before the memory tier was measured. */
export type MemoryRow = MemoryResult & Omit<MemoryRequest, 'url'> & { l1?: MemoryL1Result };

/**
 * herdless's heap per in-flight key and what stays after many keys, then its memory tier's heap per entry
 * and its bound under churn; the worker runs with --expose-gc.
 */
export async function runMemory(worker: Worker, request: MemoryRequest, l1Request: MemoryL1Request, log: (line: string) => void): Promise<MemoryRow> {
  const result = await worker.request<MemoryResult>({ type: 'memory', ...request });
  const { url: _url, ...shape } = request;
  log(
    `memory herdless: ${Math.round(result.leaderPerKey)} B per in-flight key (leader), ${Math.round(result.waiterPerKey)} B (waiter); ` +
      `${kb(result.afterInflight)} left after ${request.inflight} in flight, ${kb(result.afterChurn)} after ${request.churn} keys came and went`,
  );
  const l1 = await worker.request<MemoryL1Result>({ type: 'memory-l1', ...l1Request });
  log(
    `memory herdless-l1: ${Math.round(l1.heapPerEntry)} B heap + ${Math.round(l1.buffersPerEntry)} B buffers per entry of a ${l1.valueBytes} B value; ` +
      `${mb(l1.heapWithEntries)} with ${l1.maxEntries} entries, ${mb(l1.heapAfterChurn)} after ${l1.churn} keys (${(l1.churnMs / 1000).toFixed(1)} s); ` +
      `held ${l1.heldAfterChurn ?? '?'}, ${l1.memoryHitsAfterChurn} of the last ${Math.min(l1.maxEntries, l1.churn)} keys from memory`,
  );
  return { ...shape, ...result, l1 };
}

export function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

export function mb(bytes: number): string {
  const mib = bytes / 1024 / 1024;
  // A delta of a few bytes either way is 0.0, not -0.0.
  return `${(Math.abs(mib) < 0.05 ? 0 : mib).toFixed(1)} MiB`;
}
