import { createClient } from 'redis';
import type { Strategy } from './strategy';

/*
 * A faithful port of the 2014 design, flaws kept on purpose because they are what the benchmark measures:
 *   - the wait counter (key:wait) never expires: a leader that dies leaves it above 1 for good;
 *   - keys travel in ARGV (numkeys 0), so the scripts cannot be routed in Redis Cluster;
 *   - the reply is tested for truthiness, so a cached falsy value (the empty string) counts as a miss;
 *   - the leader returns its raw value while readers get the stored string;
 *   - waiters sleep a fixed 1 s and, after 2 retries, everyone computes.
 */
const GET_OR_COUNT = `
local value = redis.call('GET', ARGV[1])
if value then return value end
return redis.call('INCRBY', ARGV[1] .. ':wait', 1)
`;

const SET_AND_RELEASE = `
redis.call('SETEX', ARGV[1], ARGV[2], ARGV[3])
redis.call('DEL', ARGV[1] .. ':wait')
return 1
`;

const SLEEP_MS = 1000;
const RETRIES = 2;

export const design2014: Strategy = {
  name: '2014-design',
  setup: 'Lua GET-or-INCRBY key:wait, 1 s sleeps, 2 retries then compute; SETEX + DEL script; EVALSHA',
  freshSetup: 'Lua GET-or-INCRBY key:wait, 1 s sleeps, 2 retries then compute; SETEX + DEL script; EVALSHA; no stale-while-revalidate (the design has none)',
  packages: ['redis'],
  async open({ url, namespace, ttlMs }) {
    const client = createClient({ url });
    await client.connect();
    const [getSha, setSha] = await Promise.all([client.scriptLoad(GET_OR_COUNT), client.scriptLoad(SET_AND_RELEASE)]);
    const ttlSeconds = String(Math.ceil(ttlMs / 1000));
    const at = (key: string) => `${namespace}:${key}`;
    return {
      async getOrSet(key, factory) {
        for (let retry = 0; ; retry++) {
          const reply = await client.evalSha(getSha, { arguments: [at(key)] });
          if (typeof reply === 'string' && reply) return reply;
          if (reply === 1 || retry >= RETRIES) {
            const value = await factory();
            await client.evalSha(setSha, { arguments: [at(key), ttlSeconds, JSON.stringify(value)] });
            return value;
          }
          await new Promise((resolve) => setTimeout(resolve, SLEEP_MS));
        }
      },
      rawGet: (key) => client.get(at(key)),
      close: () => client.quit().then(() => undefined),
    };
  },
};
