import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { commandOptions, createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';

// The fault proxy itself, against a real Redis with a raw node-redis client: each fault does what
// support/fault-proxy.ts says it does, and heal() gives plain forwarding back. Time is asserted only as a
// lower bound (a fault adds at least this) or as a generous bound on a hang.

type Client = ReturnType<typeof createClient>;

let redis: EmbeddedRedis;
let admin: Client;
let proxy: FaultProxy;
const clients: Client[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

beforeEach(async () => {
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: redis.port } });
});

afterEach(async () => {
  proxy.heal();
  await Promise.all(clients.splice(0).map((client) => (client.isOpen ? client.disconnect() : undefined)));
  await proxy.stop();
});

afterAll(async () => {
  await admin?.quit();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const HUNG = Symbol('hung');
/** `promise`'s value, or HUNG if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<typeof HUNG>((resolve) => (timer = setTimeout(() => resolve(HUNG), ms)));
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer));
}

async function through(): Promise<{ client: Client; errors: Error[] }> {
  const errors: Error[] = [];
  const client = createClient({ url: proxy.url });
  client.on('error', (error) => errors.push(error));
  clients.push(client);
  await client.connect();
  return { client, errors };
}

/** Polls `condition` every 10 ms for up to `ms` (a hang bound, not a timing assertion). */
async function eventually(condition: () => boolean, ms = 5_000): Promise<boolean> {
  for (const until = Date.now() + ms; !condition(); ) {
    if (Date.now() > until) return false;
    await sleep(10);
  }
  return true;
}

/** What a raw socket through the proxy receives for `command` until the proxy closes it, and in how many reads. */
function rawReply(command: string): Promise<{ bytes: Buffer; reads: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), reads: chunks.length }));
    socket.write(command);
  });
}

test('forwards plainly, and counts its connections', async () => {
  const { client, errors } = await through();
  await client.set('plain', 'value');
  expect(await client.get('plain')).toBe('value');
  expect(proxy.connections()).toBe(1);
  await client.quit();
  expect(await eventually(() => proxy.connections() === 0)).toBe(true);
  expect(errors).toEqual([]);
});

test('latency delays both directions by at least the delay, and never reorders (jitter included)', async () => {
  const { client } = await through();
  proxy.latency(100);
  const started = performance.now();
  expect(await client.ping()).toBe('PONG');
  expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 100 - 2); // there and back
  proxy.latency(20, 40);
  // Sent one tick apart, so each is its own chunk with its own jitter: replies still come in order, or
  // node-redis would hand each INCR another's reply.
  const replies: Promise<number>[] = [];
  for (let i = 0; i < 30; i++) {
    replies.push(client.incr('ordered'));
    await sleep(1);
  }
  expect(await Promise.all(replies)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
});

test('blackhole: a PING hangs while the socket stays open, new connections hang too, and heal delivers what was held', async () => {
  const { client, errors } = await through();
  proxy.blackhole();
  const ping = client.ping();
  expect(await within(ping, 500)).toBe(HUNG);
  expect(proxy.connections()).toBe(1);
  expect(client.isReady).toBe(true); // nothing told the client anything: no FIN, no RST
  expect(errors).toEqual([]);
  // A connection made meanwhile is accepted, but node-redis' handshake (CLIENT SETINFO) gets no reply.
  const late = createClient({ url: proxy.url });
  late.on('error', () => undefined);
  clients.push(late);
  const connecting = late.connect();
  expect(await within(connecting, 300)).toBe(HUNG);
  proxy.heal();
  expect(await within(ping, 5_000)).toBe('PONG'); // held, not dropped
  expect(await within(client.set('after', 'healed'), 5_000)).toBe('OK');
  await within(connecting, 5_000);
  expect(late.isReady).toBe(true);
  expect(await late.get('after')).toBe('healed');
  expect(errors).toEqual([]);
});

test('reset: the client sees ECONNRESET, its pending command fails, and it reconnects', async () => {
  const { client, errors } = await through();
  proxy.latency(200); // keep a PING in flight when the RST comes
  const ping = client.ping().then(
    () => 'answered',
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
  await sleep(50);
  proxy.reset();
  expect(await within(ping, 5_000)).toBe('ECONNRESET');
  expect(await eventually(() => errors.some((error) => (error as NodeJS.ErrnoException).code === 'ECONNRESET'))).toBe(true);
  proxy.heal();
  expect(await eventually(() => client.isReady)).toBe(true);
  expect(await client.ping()).toBe('PONG');
  // A one-off: the connection made since was left alone.
  expect(proxy.connections()).toBe(1);
});

test('closeAfter: a connection is closed after exactly that many more bytes from Redis, in the middle of a reply', async () => {
  const big = 'x'.repeat(200_000);
  await admin.set('big', big);
  proxy.closeAfter(1_000);
  // A raw socket sees the cut where it is: the first 1,000 bytes of the reply, then FIN.
  const { bytes } = await rawReply('GET big\r\n');
  expect(bytes.length).toBe(1_000);
  expect(bytes.toString() === `$200000\r\n${big}`.slice(0, 1_000)).toBe(true);
  // node-redis: the GET fails (its connection closed mid-reply) and the client reconnects.
  proxy.heal();
  const { client, errors } = await through();
  proxy.closeAfter(1_000);
  await expect(client.get('big')).rejects.toThrow(/closed/i);
  expect(errors.length).toBeGreaterThan(0);
  proxy.heal();
  expect(await eventually(() => client.isReady)).toBe(true);
  expect(await client.ping()).toBe('PONG');
  // Healed, the proxy forwards the whole value again (read on a connection of its own: see the next test).
  const { client: fresh } = await through();
  expect((await fresh.get('big')) === big).toBe(true);
});

// node-redis 4.7.1 (@redis/client 1.6.1): RESP2Decoder.reset(), called when a connection fails, resets
// the reply type but not bulkStringRemainingLength (nor a partial integer, nor arrays in progress). After
// a connection dies in the middle of a bulk string, the next connection's first bulk reply is read as the
// rest of the old one: the caller gets the wrong bytes, and later replies are misaligned. Kept as a
// failing test: it passes once node-redis resets its decoder fully.
test.failing('node-redis v4: after a reply is cut in a bulk string, the reconnected client reads its next bulk reply whole', async () => {
  const big = 'x'.repeat(200_000);
  await admin.set('big', big);
  await admin.set('next', 'next value');
  const { client } = await through();
  proxy.closeAfter(1_000);
  await expect(client.get('big')).rejects.toThrow(/closed/i);
  proxy.heal();
  expect(await eventually(() => client.isReady)).toBe(true);
  const got = await within(client.get('next'), 1_000);
  expect(got).toBe('next value');
});

test('slice: a 100 KB value arrives one byte per write and node-redis still parses it', async () => {
  // Bytes RESP gives meaning to, inside the value: CR LF, '$', '*', ':' and every other byte.
  const value = Buffer.alloc(100_000, 0);
  for (let i = 0; i < value.length; i++) value[i] = i % 7 === 0 ? 13 : i % 7 === 1 ? 10 : (i * 31) % 256;
  await admin.set('sliced', value);
  await admin.set('small', 'y'.repeat(5_000));
  proxy.slice();
  // The reader really gets it in small pieces: most of 5,000 bytes arrive in reads of their own.
  proxy.closeAfter(5_000 + '$5000\r\n'.length);
  const raw = await rawReply('GET small\r\n');
  expect(raw.bytes.toString()).toBe(`$5000\r\n${'y'.repeat(5_000)}`);
  expect(raw.reads).toBeGreaterThan(1_000);
  proxy.heal();
  const { client, errors } = await through();
  proxy.slice();
  const got = await client.get(commandOptions({ returnBuffers: true }), 'sliced');
  expect(Buffer.compare(got!, value)).toBe(0);
  expect(await client.mGet(['small', 'missing'])).toEqual(['y'.repeat(5_000), null]);
  expect(errors).toEqual([]);
}, 30_000);

test('bandwidth: a 1 MB GET at 1 MB/s takes at least about 0.8 s, and arrives whole', async () => {
  const value = 'z'.repeat(1_000_000);
  await admin.set('mega', value);
  const { client } = await through();
  proxy.bandwidth(1_000_000);
  const started = performance.now();
  expect((await client.get('mega')) === value).toBe(true);
  expect(performance.now() - started).toBeGreaterThanOrEqual(800);
}, 20_000);

test('heal after every fault at once gives plain forwarding back on the same connection', async () => {
  const { client, errors } = await through();
  await client.set('k', 'v'.repeat(10_000));
  proxy.latency(20, 10);
  proxy.bandwidth(50_000);
  proxy.slice(3);
  expect(await client.get('k')).toBe('v'.repeat(10_000));
  proxy.blackhole();
  const held = client.get('k');
  expect(await within(held, 300)).toBe(HUNG);
  proxy.heal();
  expect(await within(held, 5_000)).toBe('v'.repeat(10_000));
  expect(await client.get('k')).toBe('v'.repeat(10_000));
  expect(errors).toEqual([]);
  expect(proxy.connections()).toBe(1);
});

test('stop() closes every connection and the port', async () => {
  const { client } = await through();
  await client.ping();
  await proxy.stop();
  expect(await eventually(() => !client.isReady)).toBe(true);
  const refused = await new Promise<string>((resolve) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('connect', () => (socket.destroy(), resolve('connected')));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(String(error.code)));
  });
  expect(refused).toBe('ECONNREFUSED');
  await client.disconnect().catch(() => undefined);
  proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: redis.port } }); // for afterEach
});
