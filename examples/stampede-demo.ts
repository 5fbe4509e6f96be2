/*
 * The cache stampede, live: N processes x M concurrent requests hit one cold key whose function takes a
 * while. First with the usual get / compute / set, then with herdless. Run it with `npm run demo`
 * (`-- --quick` for a few seconds; `-- --help` for the flags). Uses REDIS_URL if set, otherwise starts a
 * throw-away Redis, and stops it and every child process on exit, error, Ctrl-C or SIGTERM.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import type { DemoMessage } from './stampede-worker';

const USAGE = `npm run demo [-- options]
  --workers N     processes (default 4)
  --requests M    concurrent requests per process (default 50)
  --delay MS      how long the slow function takes (default 500)
  --quick         2 processes x 10 requests, 200 ms: a few seconds`;

function options(argv: string[]) {
  const quick = argv.includes('--quick');
  const picked = { workers: quick ? 2 : 4, requests: quick ? 10 : 50, delay: quick ? 200 : 500 };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (argv[i] === '--quick') continue;
    if (argv[i] === '--help' || argv[i] === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const value = Number(argv[++i]);
    if (!(name in picked) || !Number.isInteger(value) || value < 1 || value > 100_000) {
      console.error(`bad option ${argv[i - 1]} ${argv[i] ?? ''}\n\n${USAGE}`);
      process.exit(2);
    }
    picked[name as keyof typeof picked] = value;
  }
  return picked;
}

// Everything started here, so that any way out stops it.
const children: ChildProcess[] = [];
let redis: EmbeddedRedis | undefined;
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const child of children) child.kill();
    await redis?.stop().catch(() => undefined);
  })();
  return stopping;
}

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the workers and Redis`);
    void stopAll().finally(() => process.exit(code));
  });
}
// Last resort for an exit that skipped the above: children and the server must not outlive the demo.
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  if (redis && stopping === undefined) {
    try {
      process.kill(redis.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

function ask<T>(child: ChildProcess, message: DemoMessage): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`worker ${child.pid} exited (${code})`));
    child.once('exit', onExit);
    child.once('message', (reply: T & { error?: string }) => {
      child.off('exit', onExit);
      if (reply.error) reject(new Error(`worker ${child.pid}: ${reply.error}`));
      else resolve(reply);
    });
    child.send(message);
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const ms = (x: number) => `${Math.round(x)} ms`.padStart(8);

async function main(): Promise<void> {
  const { workers, requests, delay } = options(process.argv.slice(2));
  let url = process.env.REDIS_URL;
  if (!url) {
    redis = await startRedis();
    url = redis.url;
  }
  const namespace = `stampede-demo-${randomUUID().slice(0, 8)}`;
  const admin = createClient({ url });
  await admin.connect();
  console.log(`${workers} processes x ${requests} concurrent requests for one cold key; the function takes ${delay} ms.`);
  console.log(`Redis: ${redis ? `a throw-away server at ${url}` : url}\n`);
  for (let i = 0; i < workers; i++) {
    children.push(fork(join(__dirname, 'stampede-worker.ts'), [], { execArgv: ['-r', 'ts-node/register/transpile-only'] }));
  }
  const rows: { strategy: string; runs: number; p50: number; p99: number; max: number }[] = [];
  try {
    for (const strategy of ['naive', 'herdless'] as const) {
      const run = { strategy, url, namespace, key: `report:${strategy}`, counter: `${namespace}:runs:${strategy}`, requests, delayMs: delay };
      // Every worker connects first; then all fire together, so the herd really arrives at once.
      await Promise.all(children.map((child) => ask(child, { type: 'prepare', run })));
      const startAt = Date.now() + 100;
      const replies = await Promise.all(children.map((child) => ask<{ latencies: number[] }>(child, { type: 'go', startAt })));
      const latencies = replies.flatMap((reply) => reply.latencies).sort((a, b) => a - b);
      const runs = Number(await admin.get(run.counter));
      rows.push({ strategy, runs, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] });
    }
  } finally {
    if (!redis) {
      // A Redis we did not start: leave it as we found it.
      const keys = await admin.keys(`${namespace}*`);
      if (keys.length) await admin.del(keys);
    }
    await admin.quit();
  }

  const total = workers * requests;
  console.log('strategy    function runs     p50      p99      max');
  for (const r of rows) console.log(`${r.strategy.padEnd(10)} ${String(r.runs).padStart(13)} ${ms(r.p50)} ${ms(r.p99)} ${ms(r.max)}`);
  const [naive, herdless] = rows;
  console.log(`
What to notice:
- naive: ${naive.runs} of ${total} requests ran the slow function. Every request that found the cache empty
  computed the same value itself; against a real database that is ${naive.runs} identical queries at once, the
  stampede that takes a service down when a hot key expires.
- herdless: the function ran ${herdless.runs} time${herdless.runs === 1 ? '' : 's'} for all ${workers} processes. One caller in the fleet took the
  lease and computed; the other requests in its process shared its call, and the other processes waited
  on the key's channel and were woken the moment the value was written.
- Latency: herdless callers took ${Math.round(herdless.p99)} ms at p99 for a ${delay} ms function (naive: ${Math.round(naive.p99)} ms). Waiting
  adds the time to learn the value is there (${Math.round(herdless.p99 - delay)} ms here, on this machine), not another computation.`);
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
