import { createClient } from 'redis';
import { createCache, RedisRefusedError, RedisUnavailableError, type Cache, type CacheOptions, type RedisOption } from '../src';
import { slotOf } from '../src/store/slot';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startCluster, type LocalCluster } from '../support/redis-cluster';
// tls-worker takes its cache's redis option whole and counts over a connection of its own: the cache runs
// as the ACL user, the count as the default user.
import { startTlsFleet, type TlsFleet } from './fixtures/tls-fleet';

// Least privilege: herdless as a Redis user allowed exactly the commands it sends, on its namespace's keys
// and channels only (the README's ACL section lists the same permissions). With all of them every
// guarantee holds and Redis refuses nothing (its ACL LOG stays empty: anything else herdless sent would be
// logged there). Without any one of them Redis refuses something, and the cache says so on 'error' while
// answering its calls.

/** Every permission a cache on one server needs (see the README's ACL table for why each). */
const STANDALONE = ['+get', '+set', '+del', '+pttl', '+evalsha', '+eval', '+script|load', '+publish', '+subscribe', '+unsubscribe', '+client|id', '+client|list'];
/** What a cluster needs besides: slot discovery, the failover probe, sharded pub/sub. */
const CLUSTER_ONLY = ['+cluster|slots', '+exists', '+spublish', '+ssubscribe', '+sunsubscribe'];
const PASSWORD = 'herdless-test-secret';

/** The ACL SETUSER arguments of a cache user for `namespace`, with one permission (a command or a pattern) left out. */
function aclRules(namespace: string, commands: string[], without?: string): string[] {
  const patterns = [`~${namespace}:*`, `&${namespace}:*`];
  const granted = [...commands, ...patterns].filter((rule) => rule !== without);
  if (without !== undefined && granted.length === commands.length + patterns.length) throw new Error(`${without} is not a permission of the list`);
  return ['reset', 'on', `>${PASSWORD}`, 'resetkeys', 'resetchannels', '-@all', ...granted];
}

interface Denial {
  reason: string;
  context: string;
  object: string;
}

/** The entries of `user` in ACL LOG: as node-redis returns it (flat field/value arrays) or redis-cli --json (objects). */
function denialsOf(log: unknown, user: string): Denial[] {
  return (log as (unknown[] | Record<string, unknown>)[]).map((entry) => {
    if (!Array.isArray(entry)) return Object.fromEntries(Object.entries(entry).map(([field, value]) => [field, String(value)]));
    const fields: Record<string, string> = {};
    for (let i = 0; i < entry.length; i += 2) fields[String(entry[i])] = String(entry[i + 1]);
    return fields;
  }).filter((fields) => fields.username === user).map(({ reason, context, object }) => ({ reason, context, object }));
}

/** An error as 'error' listeners see it: its code, message and the messages of its causes. */
function explain(error: unknown): string {
  const parts: string[] = [];
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    parts.push(`${e.code ?? ''} ${String(e.message ?? e)}`.trim());
  }
  return parts.join(' <- ');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => Promise<boolean> | boolean, what: string, ms = 5_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await condition()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Reads until the memory tier answers (the invalidation channel heard its own echo), or gives up. */
async function untilMemoryHit(target: Cache, key: string): Promise<void> {
  let tier: string | undefined;
  const listener = (_key: string, t: string) => (tier = t);
  target.on('hit', listener);
  try {
    for (const end = Date.now() + 10_000; tier !== 'memory' && Date.now() < end; ) {
      await target.getOrSet(key, () => 'never');
      await sleep(20);
    }
  } finally {
    target.off('hit', listener);
  }
  expect(tier).toBe('memory');
}

// Redis 7.0 does not name the command a script was refused ("The user executing the script can't run
// this command or subcommand"); its ACL LOG does. The pattern also takes a message that names it.
const SCRIPT_REFUSED = (command: string) => new RegExp(`'${command}' command|The user executing the script can't run this command or subcommand`);
const COMMAND_REFUSED = (command: string) => new RegExp(`no permissions to run the '${command.replace('|', '\\|')}' command`);

/**
 * Every path a cache takes in normal operation, by two caches with the memory tier (as two processes):
 * connecting (SCRIPT LOAD, CLIENT ID), the invalidation channel (SUBSCRIBE, its echo's PUBLISH), a herd (a
 * leader's lease, commit and wake-up; a waiter's subscription, re-check with PTTL, CLIENT LIST of the
 * holder, and UNSUBSCRIBE), tags, clear(), set(), delete(), and a miss after SCRIPT FLUSH (EVAL).
 * Resolves with what reached 'error' or was thrown by a write, and the answers of the reads (which never
 * throw: a refused command is answered without the cache).
 */
async function workout(redis: () => RedisOption, namespace: string, flushScripts: () => Promise<unknown>): Promise<{ errors: string[]; answers: unknown[] }> {
  const errors: string[] = [];
  const note = (error: unknown) => errors.push(explain(error));
  const made = [0, 1].map(() => {
    const created = createCache({ redis: redis(), namespace, l1: true, lease: { ttl: 1_000 }, commandTimeout: 1_000 });
    created.on('error', note);
    return created;
  });
  const [a, b] = made;
  const answers: unknown[] = [];
  try {
    await Promise.all([a.get('warm-up'), b.get('warm-up')]);
    const led = new Promise((resolve) => a.once('lead', resolve));
    const first = a.getOrSet('k', async () => {
      await sleep(400);
      return 'from a';
    });
    await Promise.race([led, sleep(500)]); // no lead when the lease cannot be taken
    answers.push(...(await Promise.all([first, b.getOrSet('k', async () => 'from b')])));
    answers.push(await a.getOrSet('tagged', () => 't', { tags: ['x'] }));
    await b.invalidateTags(['x']).catch(note);
    await b.clear().catch(note);
    await a.set('s', 's').catch(note);
    await a.delete('s').catch(note);
    await flushScripts();
    answers.push(await a.getOrSet('after-flush', () => 'e'));
    await sleep(300); // what runs in the background (an unsubscribe, the echo) reports by then
  } finally {
    await Promise.all(made.map((cache) => cache.close()));
  }
  return { errors, answers };
}

describe('one server', () => {
  let redis: EmbeddedRedis;
  let admin: ReturnType<typeof createClient>;
  let fleet: TlsFleet | undefined;
  const caches: Cache[] = [];
  let count = 0;

  beforeAll(async () => {
    redis = await startRedis();
    admin = createClient({ url: redis.url });
    await admin.connect();
  });

  afterEach(async () => {
    fleet?.kill();
    fleet = undefined;
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });

  afterAll(async () => {
    await admin?.quit();
    await redis?.stop();
  });

  /** A fresh namespace and a user allowed the list on it, less `without` (a permission, or one made from the namespace). */
  async function user(without?: string | ((namespace: string) => string)): Promise<{ namespace: string; name: string; url: string }> {
    const namespace = `acl${++count}`;
    const name = `cache${count}`;
    await admin.sendCommand(['ACL', 'SETUSER', name, ...aclRules(namespace, STANDALONE, typeof without === 'function' ? without(namespace) : without)]);
    return { namespace, name, url: redis.url.replace('redis://', `redis://${name}:${PASSWORD}@`) };
  }

  async function denials(name: string): Promise<Denial[]> {
    return denialsOf(await admin.sendCommand(['ACL', 'LOG']), name);
  }

  function cache(url: string, namespace: string, options: CacheOptions = {}): { cache: Cache; errors: string[] } {
    const errors: string[] = [];
    const created = createCache({ redis: { url }, namespace, ...options });
    created.on('error', (error) => errors.push(explain(error)));
    caches.push(created);
    return { cache: created, errors };
  }

  /** The ACL user a connection is authenticated as (CLIENT LIST ID). */
  async function userOf(connection: string): Promise<string | undefined> {
    return / user=(\S+)/.exec(await admin.sendCommand<string>(['CLIENT', 'LIST', 'ID', connection]))?.[1];
  }

  test('with exactly the list: a herd of four caches computes once, woken by the leader, and the lease is held by the ACL user', async () => {
    const { namespace, name, url } = await user();
    const made = Array.from({ length: 4 }, () => cache(url, namespace, { lease: { ttl: 10_000 } }));
    let holder: string | undefined;
    const started = Date.now();
    const answers = await Promise.all(
      made.flatMap(({ cache: c }) => [0, 1, 2].map(() => c.getOrSet('report', async () => {
        await admin.incr(`runs:${namespace}`);
        holder = (await admin.get(`${namespace}:{report}:lease`))?.split(' ')[1];
        await sleep(400);
        return { report: 2026 };
      }))),
    );
    expect(answers).toEqual(Array(12).fill({ report: 2026 }));
    expect(Number(await admin.get(`runs:${namespace}`))).toBe(1);
    // The lease lasts 10 s: the waiters were woken by the commit's PUBLISH, not by the lease running out.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(holder).toMatch(/^\d+$/);
    expect(await userOf(holder!)).toBe(name);
    for (const { errors } of made) expect(errors).toEqual([]);
    expect(await denials(name)).toEqual([]);
  });

  test("with exactly the list: a SIGKILLed leader process is replaced within milliseconds (CLIENT ID and CLIENT LIST allowed), not the lease's 30 s", async () => {
    const { namespace, name, url } = await user();
    fleet = await startTlsFleet(1, { redis: { url }, counter: { url: redis.url }, namespace, key: 'report', callers: 1, delayMs: 20_000, leaseTtl: 30_000, kind: 'number' });
    await fleet.first('lead');
    await until(async () => Number(await admin.get(`runs:${namespace}`)) === 1, 'the leader to start its function');
    const [, connection] = (await admin.get(`${namespace}:{report}:lease`))!.split(' ');
    expect(await userOf(connection)).toBe(name);

    const { cache: waiter, errors } = cache(url, namespace, { lease: { ttl: 30_000 } });
    const events: string[] = [];
    for (const event of ['wait', 'takeover', 'lead'] as const) waiter.on(event, () => events.push(event));
    const answer = waiter.getOrSet('report', () => 'taken over');
    await until(() => events.includes('wait'), 'the waiter to wait');
    await sleep(300);
    const killedAt = Date.now();
    fleet.workers[0].kill('SIGKILL');
    expect(await answer).toBe('taken over');
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(events).toEqual(['wait', 'takeover', 'lead']);
    expect(await admin.get(`${namespace}:{report}:lease`)).toBeNull();
    expect(errors).toEqual([]);
    expect(await denials(name)).toEqual([]);
  });

  test('with exactly the list: the memory tier answers from memory once its channel is trusted, and a write in one cache drops the entry in the other', async () => {
    const { namespace, name, url } = await user();
    const { cache: reader, errors } = cache(url, namespace, { l1: true });
    const { cache: writer } = cache(url, namespace, { l1: true });
    expect(await reader.getOrSet('k', () => 'v1')).toBe('v1');
    await untilMemoryHit(reader, 'k');
    await writer.get('k'); // the writer's channel subscribes too
    // The subscriber connections herdless duplicates from its own carry the user's credentials.
    await until(async () => (await admin.sendCommand<string>(['CLIENT', 'LIST', 'TYPE', 'pubsub'])).split('\n').filter((line) => line.includes(` user=${name} `)).length === 2, 'both subscriber connections, as the ACL user');
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1]);
    const before = await gets();
    for (let i = 0; i < 20; i++) expect(await reader.getOrSet('k', () => 'never')).toBe('v1');
    expect(await gets()).toBe(before); // no GET reached Redis
    await writer.set('k', 'v2');
    await until(async () => (await reader.getOrSet('k', () => 'never')) === 'v2', 'the set to reach the reader');
    await writer.delete('k');
    await until(async () => (await reader.getOrSet('k', () => 'v3')) === 'v3', 'the delete to reach the reader');
    expect(errors).toEqual([]);
    expect(await denials(name)).toEqual([]);
  });

  test('with exactly the list: invalidateTags() in one cache makes the other recompute what carried the tag, and only that; clear() everything', async () => {
    const { namespace, name, url } = await user();
    const { cache: reader, errors } = cache(url, namespace, { l1: true });
    const { cache: invalidator } = cache(url, namespace);
    const runs: Record<string, number> = { p1: 0, p2: 0 };
    const read = (key: 'p1' | 'p2') => reader.getOrSet(key, () => `${key}#${++runs[key]}`, { tags: [`product:${key}`] });
    expect([await read('p1'), await read('p2')]).toEqual(['p1#1', 'p2#1']);
    await invalidator.invalidateTags(['product:p1']);
    expect(await admin.exists(`${namespace}:tag:{product:p1}`)).toBe(1);
    await until(async () => (await read('p1')) === 'p1#2', 'the tag invalidation to reach the reader');
    expect(await read('p2')).toBe('p2#1');
    const epoch = await admin.get(`${namespace}:epoch`);
    await invalidator.clear();
    expect(await admin.get(`${namespace}:epoch`)).not.toBe(epoch);
    await until(async () => (await read('p2')) === 'p2#2', 'clear() to reach the reader');
    expect(await read('p1')).toBe('p1#3');
    expect(errors).toEqual([]);
    expect(await denials(name)).toEqual([]);
  });

  test('with exactly the list, the whole workout (herd, tags, clear, set, delete, EVAL after SCRIPT FLUSH) is refused nothing', async () => {
    const { namespace, name, url } = await user();
    const { errors, answers } = await workout(() => ({ url }), namespace, () => admin.scriptFlush());
    expect(errors).toEqual([]);
    expect(answers).toEqual(['from a', 'from a', 't', 'e']);
    expect(await denials(name)).toEqual([]);
  });

  // Each permission, left out alone: Redis refuses it (its ACL LOG says which), the cache reports the
  // refusal on 'error' (or the write that needed it rejects with it), and reads are still answered.
  test.each([
    ['+get', COMMAND_REFUSED('get'), 'get'],
    ['+set', SCRIPT_REFUSED('set'), 'set'],
    ['+del', SCRIPT_REFUSED('del'), 'del'],
    ['+pttl', SCRIPT_REFUSED('pttl'), 'pttl'],
    ['+evalsha', COMMAND_REFUSED('evalsha'), 'evalsha'],
    ['+eval', COMMAND_REFUSED('eval'), 'eval'],
    ['+script|load', COMMAND_REFUSED('script|load'), 'script|load'],
    ['+publish', COMMAND_REFUSED('publish'), 'publish'],
    ['+subscribe', COMMAND_REFUSED('subscribe'), 'subscribe'],
    ['+unsubscribe', COMMAND_REFUSED('unsubscribe'), 'unsubscribe'],
    ['+client|id', /ERR_HERDLESS_CLIENT_REFUSED herdless: Redis refused CLIENT ID .*'client\|id' command/, 'client|id'],
    ['+client|list', /ERR_HERDLESS_CLIENT_REFUSED herdless: Redis refused CLIENT LIST ID .*'client\|list' command/, 'client|list'],
    ['keys', /no permissions to access one of the keys/, 'key'],
    ['channels', /no permissions to access one of the channels/, 'channel'],
  ] as const)('without %s: refused, said on the error event, and reads still answered', async (permission, message, denied) => {
    const { namespace, name, url } = await user((ns) => (permission === 'keys' ? `~${ns}:*` : permission === 'channels' ? `&${ns}:*` : permission));
    const { errors, answers } = await workout(() => ({ url }), namespace, () => admin.scriptFlush());
    expect(answers).toHaveLength(4); // every read resolved, with the cache or without
    expect(errors.some((error) => message.test(error))).toBe(true);
    const logged = await denials(name);
    if (denied === 'key' || denied === 'channel') {
      expect(logged.some(({ reason, object }) => reason === denied && object.startsWith(`${namespace}:`))).toBe(true);
    } else {
      expect(logged.some(({ reason, object }) => reason === 'command' && object === denied)).toBe(true);
    }
  });

  // Redis 7.0 says of a command refused inside a script only "can't run this command or subcommand
  // script: <sha>, on @user_script:<line>", naming neither the command nor herdless' script. herdless maps
  // the SHA to its script and the line to the command there (errors.ts, refusedBy).
  test("without +set: the error names the command refused inside the script", async () => {
    const { namespace, url } = await user('+set');
    const { errors } = await workout(() => ({ url }), namespace, () => admin.scriptFlush());
    expect(errors.some((error) => /\bSET\b|'set'/.test(error))).toBe(true);
    expect(errors.some((error) => /^ERR_HERDLESS_REDIS_REFUSED .*SET inside herdless' acquire script \(line \d+\): grant it \+set/.test(error))).toBe(true);
  });

  test('a refused command is coded ERR_HERDLESS_REDIS_REFUSED (a RedisUnavailableError naming the command), not ERR_HERDLESS_REDIS_UNAVAILABLE', async () => {
    const noGet = await user('+get');
    const errors: unknown[] = [];
    const reader = createCache({ redis: { url: noGet.url }, namespace: noGet.namespace });
    reader.on('error', (error) => errors.push(error));
    caches.push(reader);
    expect(await reader.getOrSet('k', () => 'uncached')).toBe('uncached');
    const refused = errors.find((error) => error instanceof RedisRefusedError) as RedisRefusedError | undefined;
    expect(refused).toBeInstanceOf(RedisUnavailableError);
    expect(refused!.code).toBe('ERR_HERDLESS_REDIS_REFUSED');
    expect(refused!.command).toBe('get');
    expect(refused!.message).toMatch(/GET: grant it \+get/);
    expect(errors.map((error) => (error as { code?: string }).code)).not.toContain('ERR_HERDLESS_REDIS_UNAVAILABLE');

    // A write rejects with it too.
    const noEvalsha = await user('+evalsha');
    const writer = createCache({ redis: { url: noEvalsha.url }, namespace: noEvalsha.namespace });
    writer.on('error', () => undefined);
    caches.push(writer);
    const rejected = await writer.set('k', 1).then(() => undefined, (error: unknown) => error);
    expect(rejected).toBeInstanceOf(RedisRefusedError);
    expect((rejected as RedisRefusedError).code).toBe('ERR_HERDLESS_REDIS_REFUSED');
    expect((rejected as RedisRefusedError).command).toBe('evalsha');
  });
});

describe('a cluster', () => {
  let cluster: LocalCluster;
  let count = 0;
  const caches: Cache[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
  }, 120_000);

  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** A user on every node (ACLs are per node, replicas included: a promoted replica must know it too). */
  function user(without?: string): { namespace: string; name: string; redis: () => RedisOption } {
    const namespace = `cacl${++count}`;
    const name = `cluster-cache${count}`;
    for (const { port } of alive()) {
      const reply = cluster.cli(port, 'ACL', 'SETUSER', name, ...aclRules(namespace, [...STANDALONE, ...CLUSTER_ONLY], without));
      if (reply.trim() !== 'OK') throw new Error(`ACL SETUSER on ${port}: ${reply}`);
    }
    // node-redis authenticates the nodes it discovers with `defaults`; a root node's URL is for that node only.
    return { namespace, name, redis: () => ({ cluster: { rootNodes: cluster.rootNodes, defaults: { username: name, password: PASSWORD } } }) };
  }

  /** The nodes not killed by a failover test. */
  const alive = () => cluster.nodes.filter(({ process: node }) => node.exitCode === null && node.signalCode === null);

  function denials(name: string): Denial[] {
    return alive().flatMap(({ port }) => denialsOf(JSON.parse(cluster.cli(port, '--json', 'ACL', 'LOG') || '[]'), name));
  }

  function cache(redis: RedisOption, namespace: string, options: CacheOptions = {}): { cache: Cache; errors: string[] } {
    const errors: string[] = [];
    const created = createCache({ redis, namespace, ...options });
    created.on('error', (error) => errors.push(explain(error)));
    caches.push(created);
    return { cache: created, errors };
  }

  const masterPortOf = async (key: string) => cluster.masterOf(slotOf(key));
  const flushScripts = async () => {
    for (const port of await cluster.masters()) cluster.cli(port, 'SCRIPT', 'FLUSH');
  };

  test('with exactly the list: a herd per master computes once, woken by sharded pub/sub; the memory tier, tags and clear() work; nothing is refused', async () => {
    const { namespace, name, redis } = user();
    const made = [cache(redis(), namespace, { l1: true, lease: { ttl: 10_000 } }), cache(redis(), namespace, { l1: true, lease: { ttl: 10_000 } }), cache(redis(), namespace, { lease: { ttl: 10_000 } })];
    const masters = await cluster.masters();
    const keys: string[] = [];
    for (let i = 0; keys.length < masters.length; i++) {
      const port = await masterPortOf(`${namespace}:{k${i}}:v`);
      if (!(await Promise.all(keys.map((key) => masterPortOf(`${namespace}:{${key}}:v`)))).includes(port)) keys.push(`k${i}`);
    }
    const runs = new Map<string, number>();
    const started = Date.now();
    const answers = await Promise.all(keys.flatMap((key) => made.flatMap(({ cache: c }) => [0, 1].map(() => c.getOrSet(key, async () => {
      runs.set(key, (runs.get(key) ?? 0) + 1);
      await sleep(400);
      return `${key}!`;
    })))));
    // Leases last 10 s: every waiter was woken by its leader's SPUBLISH.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(answers).toEqual(keys.flatMap((key) => Array(6).fill(`${key}!`)));
    expect([...runs.values()]).toEqual(keys.map(() => 1));

    const [reader, writer, other] = made.map(({ cache: c }) => c);
    for (const key of keys) {
      await untilMemoryHit(reader, key);
      await writer.set(key, `${key}+`);
      await until(async () => (await reader.getOrSet(key, () => 'never')) === `${key}+`, `the set of ${key} to reach the reader`);
    }
    let tagged = 0;
    const read = () => reader.getOrSet('tagged', () => ++tagged, { tags: ['t'] });
    expect(await read()).toBe(1);
    await other.invalidateTags(['t']);
    await until(async () => (await read()) === 2, 'the tag invalidation to reach the reader');
    await other.clear();
    await until(async () => (await read()) === 3, 'clear() to reach the reader');
    // Every connection the caches opened, to every node and for pub/sub too, is the ACL user's (node-redis
    // takes the discovered nodes' credentials from `defaults`); the only other client is redis-cli itself.
    const connections = cluster.nodes.flatMap(({ port }) => cluster.cli(port, 'CLIENT', 'LIST').trim().split('\n')).filter((line) => !/ flags=[^ ]*[SM]/.test(line) && !line.includes(' cmd=client|list '));
    expect(connections.length).toBeGreaterThanOrEqual(6);
    for (const line of connections) expect(line).toContain(` user=${name} `);
    expect(connections.some((line) => / ssub=[1-9]/.test(line) || / sub=[1-9]/.test(line))).toBe(true);
    for (const { errors } of made) expect(errors).toEqual([]);
    expect(denials(name)).toEqual([]);
  });

  test("EXISTS is needed: a node checks the ACL before it redirects, so herdless' failover probe, without it, gets NOPERM instead of the MOVED that makes node-redis rediscover", async () => {
    // What herdless sends to a master that does not own the key's slot (cluster.ts, refresh).
    const probe = async ({ namespace, name }: { namespace: string; name: string }) => {
      const key = `${namespace}:{k}:v`;
      const owner = await masterPortOf(key);
      const other = (await cluster.masters()).find((port) => port !== owner)!;
      return cluster.cli(other, '--user', name, '--pass', PASSWORD, '--no-auth-warning', 'EXISTS', key).trim();
    };
    expect(await probe(user('+exists'))).toMatch(/NOPERM .*'exists' command/);
    expect(await probe(user())).toMatch(/^MOVED \d+ 127\.0\.0\.1:\d+$/);
  });

  test.each([
    ['+cluster|slots', COMMAND_REFUSED('cluster|slots')],
    ['+ssubscribe', COMMAND_REFUSED('ssubscribe')],
    ['+sunsubscribe', COMMAND_REFUSED('sunsubscribe')],
  ] as const)('without %s: refused, said on the error event, and reads still answered', async (permission, message) => {
    const { namespace, name, redis } = user(permission);
    const { errors, answers } = await workout(redis, namespace, flushScripts);
    expect(answers).toHaveLength(4);
    expect(errors.some((error) => message.test(error))).toBe(true);
    expect(denials(name).some(({ reason, object }) => reason === 'command' && object === permission.slice(1))).toBe(true);
  });

  // Wake-ups are sent with redis.pcall (so a server without sharded pub/sub still writes), which also
  // swallows an ACL refusal of SPUBLISH: only Redis' ACL LOG showed it, and waiters waited out the lease's
  // TTL. The scripts now hand a refused publish back with their reply, and the store reports it
  // (store/script.ts, PUBLISHES; store.ts, evalScript).
  test('without +spublish: the error event names spublish', async () => {
    const { namespace, name, redis } = user('+spublish');
    const { errors } = await workout(redis, namespace, flushScripts);
    expect(denials(name).some(({ object }) => object === 'spublish')).toBe(true); // Redis did refuse it
    expect(errors.some((error) => /spublish/i.test(error))).toBe(true);
  });

  // The last two tests each kill a master (of different shards): they run after every other test here.

  /** Kills the master of `key`'s slot, and waits until its replica serves the slot. */
  async function failOver(key: string): Promise<{ victim: number; promoted: number }> {
    const victim = await masterPortOf(key);
    cluster.nodes.find(({ port }) => port === victim)!.process.kill('SIGKILL');
    await cluster.waitUntilHealthy();
    return { victim, promoted: await masterPortOf(key) };
  }

  /** Whether a cached read of `key` comes back within `ms`: a call that finds the value runs no function. */
  async function cachingResumes(target: Cache, key: string, ms: number): Promise<boolean> {
    let runs = 0;
    for (const end = Date.now() + ms; Date.now() < end; ) {
      await target.getOrSet(key, async () => ++runs);
      const before = runs;
      await target.getOrSet(key, async () => ++runs);
      if (runs === before) return true;
      await sleep(50);
    }
    return false;
  }

  let promotedEarlier: number | undefined;

  test("with exactly the list: a master's death is survived; once its replica is promoted, the cache caches its slots again", async () => {
    const { namespace, name, redis } = user();
    const { cache: c } = cache(redis(), namespace, { commandTimeout: 300 });
    expect(await c.getOrSet('k', () => 'v')).toBe('v');
    const { victim, promoted } = await failOver(`${namespace}:{k}:v`);
    expect(promoted).not.toBe(victim);
    promotedEarlier = promoted;
    expect(await cachingResumes(c, 'k', 10_000)).toBe(true);
    expect(denials(name)).toEqual([]);
  });

  test("without +exists: after a failover the cache never finds the promoted master (its probe is refused, not redirected), so the slot's calls stay uncached", async () => {
    const { namespace, name, redis } = user('+exists');
    // A key on a shard that still has its replica: not the one the previous test failed over.
    const masters = (await cluster.masters()).filter((port) => port !== promotedEarlier);
    let key = '';
    for (let i = 0; !key; i++) if (masters.includes(await masterPortOf(`${namespace}:{k${i}}:v`))) key = `k${i}`;
    const { cache: c } = cache(redis(), namespace, { commandTimeout: 300 });
    expect(await c.getOrSet(key, () => 'v')).toBe('v');
    const { victim, promoted } = await failOver(`${namespace}:{${key}}:v`);
    expect(promoted).not.toBe(victim); // the cluster did recover: only the cache did not notice
    expect(await cachingResumes(c, key, 3_000)).toBe(false); // with EXISTS it resumes at once (the test before)
    expect(denials(name).some(({ reason, object }) => reason === 'command' && object === 'exists')).toBe(true);
  });
});
