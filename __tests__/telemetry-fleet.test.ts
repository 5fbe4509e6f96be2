import { createClient } from 'redis';
import { startRedis, type EmbeddedRedis } from '../support/embedded-redis';
import { runTelemetryFleet } from './fixtures/telemetry-fleet';
import type { ExportedPoint } from './fixtures/telemetry-worker';

// A herd across three processes, each instrumented with herdless/otel on OpenTelemetry's SDK: the data
// points the processes export, summed, tell the fleet's story: one lead, the others waited or joined.

let redis: EmbeddedRedis;
let admin: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  await admin.connect();
});

afterAll(async () => {
  await admin.quit();
  await redis.stop();
});

/** The sum over the fleet of a metric's values with these attributes. */
function total(points: ExportedPoint[], metric: string, wanted: Record<string, string>): number {
  return points
    .filter((point) => point.metric === metric && Object.entries(wanted).every(([name, value]) => point.attributes[name] === value))
    .reduce((sum, point) => sum + (point.value ?? point.count ?? 0), 0);
}

test('3 processes x 10 concurrent calls on one key: the fleet reports exactly one lead and one lease, 30 requests, and the function ran once', async () => {
  const namespace = `telemetry-fleet-${Date.now()}`;
  const perWorker = await runTelemetryFleet(3, { url: redis.url, namespace, key: 'report', callers: 10, delayMs: 300 });
  const points = perWorker.flat();
  const ns = { 'herdless.namespace': namespace };

  expect(Number(await admin.get(`runs:${namespace}`))).toBe(1);
  expect(total(points, 'herdless.requests', ns)).toBe(30);
  expect(total(points, 'herdless.requests', { ...ns, 'herdless.outcome': 'lead' })).toBe(1);
  expect(total(points, 'herdless.leases', { ...ns, 'herdless.lease.outcome': 'lead' })).toBe(1);
  expect(total(points, 'herdless.leases', ns)).toBe(1);
  // Every other call waited for the leader (the first caller of each other process) or joined a call in its own process.
  const outcomes = new Set(points.filter((point) => point.metric === 'herdless.requests').map((point) => point.attributes['herdless.outcome']));
  expect([...outcomes].sort()).toEqual(['joined', 'lead', 'wait']);
  expect(total(points, 'herdless.requests', { ...ns, 'herdless.outcome': 'wait' }) + total(points, 'herdless.requests', { ...ns, 'herdless.outcome': 'joined' })).toBe(29);
  expect(total(points, 'herdless.requests', { ...ns, 'herdless.outcome': 'wait' })).toBe(2);
  // Each process reports on its own: the leader's has the lead and the function's time, the others a wait each.
  const leaders = perWorker.filter((worker) => total(worker, 'herdless.requests', { ...ns, 'herdless.outcome': 'lead' }) === 1);
  expect(leaders).toHaveLength(1);
  expect(total(leaders[0], 'herdless.factory.duration', { ...ns, 'herdless.outcome': 'lead' })).toBe(1);
  const durations = points.filter((point) => point.metric === 'herdless.factory.duration' || point.metric === 'herdless.wait.duration');
  expect(durations.every((point) => point.unit === 's')).toBe(true);
  const factory = points.find((point) => point.metric === 'herdless.factory.duration')!;
  expect(factory.sum).toBeGreaterThanOrEqual(0.29);
  expect(factory.sum).toBeLessThan(30);
  expect(total(points, 'herdless.wait.duration', { ...ns, 'herdless.outcome': 'wait' })).toBe(2);
});
