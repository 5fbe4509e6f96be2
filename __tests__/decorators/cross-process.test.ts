import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { useRedis } from './helpers';

// Keys are built from names and values only, so separate processes running the same decorated class
// agree on them: the method runs once across all of them.
const redis = useRedis();
const ROOT = join(__dirname, '..', '..');

interface Report {
  runs: number;
  value: string;
}

function start(namespace: string): { child: ChildProcess; ready: Promise<void>; report: Promise<Report> } {
  const child = fork(join(__dirname, 'cross-process-worker.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: redis.url, HERDLESS_NAMESPACE: namespace, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json') },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let ready!: () => void;
  let report!: (r: Report) => void;
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  const reportPromise = new Promise<Report>((resolve, reject) => {
    report = resolve;
    child.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  });
  child.on('message', (message) => (message === 'ready' ? ready() : report(message as Report)));
  return { child, ready: readyPromise, report: reportPromise };
}

test('a decorated method runs once across processes sharing the cache', async () => {
  const namespace = `cross-${process.pid}`;
  const workers = [start(namespace), start(namespace)];
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.child.send('go');
    const reports = await Promise.all(workers.map((w) => w.report));
    expect(reports.reduce((sum, r) => sum + r.runs, 0)).toBe(1);
    expect(new Set(reports.map((r) => r.value)).size).toBe(1);
    expect(reports[0].value).toMatch(/^report 2024-01 from process \d+$/);
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill();
  }
});
