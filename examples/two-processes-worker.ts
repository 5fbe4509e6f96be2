/*
 * One process of examples/two-processes.ts: a report service whose slow method is cached. It connects,
 * says 'ready', computes nothing until the parent says 'go', then reports what happened.
 */
import { performance } from 'node:perf_hooks';
import { createCache } from '../src';
import { Cached, CacheConfig } from '../decorators';

export interface WorkerReport {
  name: string;
  pid: number;
  computed: boolean;
  ms: number;
  value: string;
}

const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: process.env.EXAMPLE_NAMESPACE });
let computed = false;

@CacheConfig({ cache })
class ReportService {
  @Cached('5m')
  async monthly(month: string): Promise<string> {
    computed = true;
    await new Promise((resolve) => setTimeout(resolve, 1000)); // an expensive aggregation
    return `sales report for ${month}, built by pid ${process.pid}`;
  }
}

process.on('message', async (message) => {
  if (message !== 'go') return;
  const started = performance.now();
  const value = await new ReportService().monthly('2024-06');
  const report: WorkerReport = { name: process.env.WORKER_NAME ?? 'worker', pid: process.pid, computed, ms: Math.round(performance.now() - started), value };
  process.send!(report, () => {
    void cache.close().then(() => process.disconnect());
  });
});

// Connect before saying ready, so the two calls start together.
void cache.get('warm-up').finally(() => process.send!('ready'));
