/*
 * Evicting after an update: @CacheEvict on the method that writes, and invalidate() for a code path
 * without decorators (a webhook, a script). Run it:
 *   npx ts-node --transpile-only examples/eviction.ts
 */
import { createCache } from '../src';
import { Cached, CacheEvict, invalidate, peek, setDefaultCache } from '../decorators';
import { check, exampleRedis, runExample } from '../support/examples';

interface Account {
  id: string;
  email: string;
  plan: 'free' | 'pro';
}

const db = new Map<string, Account>([['a1', { id: 'a1', email: 'ada@example.com', plan: 'free' }]]);
let reads = 0;

class AccountService {
  @Cached('10m')
  async getAccount(id: string): Promise<Account | undefined> {
    reads++;
    const account = db.get(id);
    return account && { ...account };
  }

  @Cached('10m')
  async planOf(id: string): Promise<string> {
    reads++;
    return db.get(id)?.plan ?? 'none';
  }

  // After the write succeeds, both cached reads of this account are removed. The mapping says which
  // arguments of getAccount/planOf match this call: here the id, not the patch.
  @CacheEvict(['getAccount', 'planOf'], (id: string) => [id])
  async update(id: string, patch: Partial<Omit<Account, 'id'>>): Promise<void> {
    const account = db.get(id);
    if (!account) throw new Error(`no account ${id}`);
    db.set(id, { ...account, ...patch });
  }
}

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('eviction');
  const cache = createCache({ redis: { url: redis.url }, namespace: redis.namespace });
  stop = async () => {
    await cache.close();
    await redis.stop();
  };
  setDefaultCache(cache);
  const accounts = new AccountService();

  console.log(`read:   ${JSON.stringify(await accounts.getAccount('a1'))}, plan ${await accounts.planOf('a1')}`);
  await accounts.getAccount('a1');
  console.log(`read again: database reads so far ${reads} (the second read was a hit)`);
  check(reads === 2, 'the second read is a hit');

  await accounts.update('a1', { plan: 'pro' });
  const fresh = await accounts.getAccount('a1');
  console.log(`\nupdate({ plan: 'pro' }) evicted both entries; read: ${JSON.stringify(fresh)}, plan ${await accounts.planOf('a1')}`);
  console.log(`  database reads: ${reads}: the reads after the update recomputed, so nobody sees the old plan`);
  check(fresh?.plan === 'pro' && reads === 4, 'reads after the update see the new plan');

  // A change made outside the service (a billing webhook, a migration script): evict by hand.
  db.set('a1', { ...db.get('a1')!, email: 'ada@lovelace.dev' });
  console.log(`\nchanged outside the service; cached email still ${(await peek(accounts.getAccount, 'a1'))?.email}`);
  const removed = await invalidate(accounts.getAccount, 'a1');
  const email = (await accounts.getAccount('a1'))?.email;
  console.log(`invalidate(accounts.getAccount, 'a1') -> ${removed}; next read: ${email}`);
  check(removed && email === 'ada@lovelace.dev', 'invalidate removes the stale entry');
}, () => stop());
