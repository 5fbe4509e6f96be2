/*
 * Two processes, one cache: both ask for the same slow report at the same moment; one computes it, the
 * other waits for that result instead of computing it too. Run it:
 *   npx ts-node --transpile-only examples/two-processes.ts
 * Each process runs examples/two-processes-worker.ts (a service with a @Cached method).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { check, exampleRedis, runExample } from '../support/examples';
import type { WorkerReport } from './two-processes-worker';

const children: ChildProcess[] = [];

function startWorker(name: string, url: string, namespace: string): { ready: Promise<void>; report: Promise<WorkerReport>; go(): void } {
  const child = fork(join(__dirname, 'two-processes-worker.ts'), [], {
    execArgv: ['-r', 'ts-node/register/transpile-only'],
    env: { ...process.env, REDIS_URL: url, EXAMPLE_NAMESPACE: namespace, WORKER_NAME: name },
  });
  children.push(child);
  let ready!: () => void;
  let report!: (r: WorkerReport) => void;
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`))));
  child.on('message', (message) => (message === 'ready' ? ready() : report(message as WorkerReport)));
  return {
    ready: Promise.race([new Promise<void>((resolve) => (ready = resolve)), exited]),
    report: Promise.race([new Promise<WorkerReport>((resolve) => (report = resolve)), exited]),
    go: () => child.send('go'),
  };
}

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('two-processes');
  stop = async () => {
    for (const child of children) if (child.exitCode === null) child.kill();
    await redis.stop();
  };
  const workers = [startWorker('process A', redis.url, redis.namespace), startWorker('process B', redis.url, redis.namespace)];
  await Promise.all(workers.map((w) => w.ready));
  console.log('both processes are up; each now calls reports.monthly("2024-06"), which takes 1 s to compute');
  for (const w of workers) w.go();
  const reports = await Promise.all(workers.map((w) => w.report));
  for (const r of reports) {
    console.log(`  ${r.name} (pid ${r.pid}): ${r.computed ? 'computed it' : 'did not compute, received the other process’s result'} in ${r.ms} ms -> "${r.value}"`);
  }
  const computations = reports.filter((r) => r.computed).length;
  console.log(`\ncomputations across both processes: ${computations}; both received the same report: ${reports[0].value === reports[1].value}`);
  check(computations === 1, 'exactly one process computed');
  check(reports[0].value === reports[1].value, 'both processes received the same value');
}, () => stop());
