/*
 * One process of the cross-process test: a service with a decorated method, on the Redis and namespace
 * the parent passes. It waits for 'go' so that every process calls at about the same moment, then reports
 * how often its method ran and what it received.
 */
import { createCache } from '../../src';
import { Cached, CacheConfig } from '../../decorators';

const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: process.env.HERDLESS_NAMESPACE });
let runs = 0;

@CacheConfig({ cache })
class Reports {
  @Cached('1m')
  async monthly(month: string): Promise<string> {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 300));
    return `report ${month} from process ${process.pid}`;
  }
}

process.on('message', async (message) => {
  if (message !== 'go') return;
  const value = await new Reports().monthly('2024-01');
  process.send!({ runs, value }, () => {
    void cache.close().then(() => process.disconnect());
  });
});
process.send!('ready');
