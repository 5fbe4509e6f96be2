import { createClient } from 'redis';
import type { Strategy } from './strategy';

/** Get, compute on a miss, set: what most code does, and what stampedes. */
export const naive: Strategy = {
  name: 'naive',
  setup: 'node-redis GET, compute on a miss, SET PX; JSON',
  freshSetup: 'node-redis GET, compute on a miss, SET PX; JSON; no stale-while-revalidate (as in every phase)',
  packages: ['redis'],
  async open({ url, namespace, ttlMs }) {
    const client = createClient({ url });
    await client.connect();
    const at = (key: string) => `${namespace}:${key}`;
    return {
      async getOrSet(key, factory) {
        const cached = await client.get(at(key));
        if (cached !== null) return JSON.parse(cached);
        const value = await factory();
        await client.set(at(key), JSON.stringify(value), { PX: ttlMs });
        return value;
      },
      rawGet: (key) => client.get(at(key)),
      close: () => client.quit().then(() => undefined),
    };
  },
};
