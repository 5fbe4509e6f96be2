/*
 * The other process of the invalidateAll test (invalidate-all.test.ts): the same decorated class and
 * cached() function as the parent defines, on the Redis and namespace the parent passes (and the memory
 * tier if HERDLESS_L1 is set, so hits need no Redis round trip and only the invalidation channel can tell
 * this process). Each message names a call to make; the reply is the value and how often each ran.
 */
import { createCache } from '../../src';
import { cached, Cached, CacheConfig } from '../../decorators';

const cache = createCache({ redis: { url: process.env.REDIS_URL }, namespace: process.env.HERDLESS_NAMESPACE, l1: process.env.HERDLESS_L1 === '1' });
const runs: Record<string, number> = { monthly: 0, yearly: 0, rate: 0 };

@CacheConfig({ cache })
class Reports {
  @Cached('1m')
  async monthly(month: string): Promise<string> {
    runs.monthly++;
    return `report ${month} #${runs.monthly}`;
  }

  @Cached('1m')
  async yearly(year: string): Promise<string> {
    runs.yearly++;
    return `report ${year} #${runs.yearly}`;
  }
}

const rate = cached(
  async function rate(currency: string) {
    runs.rate++;
    return `${currency} #${runs.rate}`;
  },
  { cache, ttl: '1m' },
);

export interface Call {
  call: 'monthly' | 'yearly' | 'rate';
  arg: string;
}

export interface Reply {
  value: string;
  runs: Record<string, number>;
}

const reports = new Reports();
process.on('message', async (message: Call | 'exit') => {
  if (message === 'exit') {
    await cache.close();
    process.disconnect();
    return;
  }
  const value = message.call === 'rate' ? await rate(message.arg) : await reports[message.call](message.arg);
  process.send!({ value, runs: { ...runs } } satisfies Reply);
});
process.send!('ready');
