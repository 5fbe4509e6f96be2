/*
 * Metrics for Prometheus: herdless/prometheus on a prom-client Registry, served on /metrics. A herd of ten
 * callers over two caches (standing in for two processes) computes once; the scrape shows one lead, one
 * wait and eight joined, then the hits. Run it:
 *   npx ts-node --transpile-only examples/observability.ts
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { collectMetrics } from '../prometheus';
import { createCache } from '../src';
import { check, exampleRedis, runExample } from '../support/examples';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('observability');
  const registry = new Registry();
  // 'report:2026' -> key_group="report": a few groups, never the keys themselves.
  const metrics = collectMetrics({ registry, keyGroup: (key) => key.split(':')[0] });
  const options = { redis: { url: redis.url }, namespace: redis.namespace, ttl: '10m' } as const;
  const api = createCache(options);
  const worker = createCache(options);
  const server: Server = createServer(async (request, response) => {
    if (request.url !== '/metrics') return void response.writeHead(404).end();
    response.setHeader('Content-Type', registry.contentType);
    response.end(await registry.metrics());
  });
  stop = async () => {
    metrics.stop();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all([api.close(), worker.close()]);
    await redis.stop();
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await Promise.all([api.get('warm-up'), worker.get('warm-up')]);

  let builds = 0;
  const buildReport = async () => {
    builds++;
    await sleep(200); // a slow query
    return { year: 2026, total: 1234 };
  };
  // The herd: five callers in each "process", all at once.
  await Promise.all([api, worker].flatMap((cache) => Array.from({ length: 5 }, () => cache.getOrSet('report:2026', buildReport))));
  // A few hits.
  for (let i = 0; i < 3; i++) await api.getOrSet('report:2026', buildReport);

  const { port } = server.address() as AddressInfo;
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const requests = text.split('\n').filter((line) => line.startsWith('herdless_requests_total{'));
  console.log(`GET /metrics, the requests (report built ${builds} time):`);
  for (const line of requests) console.log(`  ${line}`);
  const count = (outcome: string) => requests.filter((line) => line.includes(`outcome="${outcome}"`)).reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  check(builds === 1, 'the herd computed the report once');
  check(count('lead') === 1 && count('wait') === 1 && count('joined') === 8, 'one lead, one wait, eight joined');
  check(count('hit') === 3, 'then three hits');
  check(requests.every((line) => line.includes('key_group="report"') && !line.includes('report:2026')), 'grouped by key_group, no key in a label');
  const lease = text.split('\n').find((line) => line.startsWith('herdless_leases_total{'));
  console.log(`  ${lease}`);
  check(lease !== undefined && lease.endsWith(' 1'), 'one lease taken, fleet-wide');
}, () => stop());
