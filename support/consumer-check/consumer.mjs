// An application in plain JavaScript (ES modules) using the published package: imported by Node.js as is,
// no compiler involved.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { createCache, RedisUnavailableError } from 'herdless';
import { cached, setDefaultCache } from 'herdless/decorators';

/** A port nothing listens on: bound once by the system, then released. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const port = await freePort();
const cache = createCache({ redis: { url: `redis://127.0.0.1:${port}` }, namespace: 'consumer', commandTimeout: '300ms' });
const errors = [];
cache.on('error', (error) => errors.push(error));

// Redis is unreachable: the call is answered by the function, uncached, and the cause is reported.
let runs = 0;
const value = await cache.getOrSet('answer', () => {
  runs++;
  return 42;
});
assert.equal(value, 42);
assert.equal(runs, 1);
assert.ok(errors.some((error) => error instanceof RedisUnavailableError), 'a RedisUnavailableError is reported');

setDefaultCache(cache);
const double = cached(async (n) => n * 2, { name: 'double' });
assert.equal(await double(21), 42);

await cache.close();
console.log('consumer ran: answers uncached while Redis is unreachable, cached() works');
