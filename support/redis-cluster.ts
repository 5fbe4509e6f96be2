import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRedisServer } from './embedded-redis';

/*
 * A real Redis Cluster on loopback for tests: 3 masters and 3 replicas started from the system
 * redis-server, joined with `redis-cli --cluster create`, ready once every node reports cluster_state:ok.
 * `stop()` kills every node and removes their folders; nodes are also killed if the test process exits.
 */
export interface ClusterNode {
  port: number;
  process: ChildProcess;
}

export interface LocalCluster {
  nodes: ClusterNode[];
  rootNodes: { url: string }[];
  /** Port of the master owning `slot`, read from the cluster itself. */
  masterOf(slot: number): Promise<number>;
  masters(): Promise<number[]>;
  /** Starts a node that was killed again, on its port and with its cluster config (it rejoins as a replica). */
  restart(port: number): Promise<void>;
  /** Runs redis-cli against one node and returns its output. */
  cli(port: number, ...args: string[]): string;
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  nodeTimeoutMs?: number;
  /** Given to every redis-server (e.g. ['--rename-command', 'SSUBSCRIBE', ''] to take a command away). */
  extraArgs?: string[];
  /** The six ports to listen on (from `freeClusterPorts()`, to point clients at a cluster that does not exist yet). */
  ports?: number[];
  /** Runs once every node answers PING and before the cluster is formed (the nodes serve no slots yet). */
  beforeCreate?: (cluster: LocalCluster) => Promise<void>;
}

/** The cluster is formed without blocking this process, so clients in it keep running meanwhile. */
export async function startCluster({ nodeTimeoutMs = 1_000, extraArgs = [], ports = [], beforeCreate }: StartOptions = {}): Promise<LocalCluster> {
  const server = systemRedisServer();
  if (!server) throw new Error('Redis Cluster tests need redis-server on PATH (Debian: apt-get install redis-server)');
  if (ports.length !== 0 && ports.length !== 6) throw new Error(`startCluster needs 6 ports, got ${ports.length}`);
  // Made before the first await (bench/lib/cluster.ts points TMPDIR elsewhere for that moment only).
  const dir = mkdtempSync(join(tmpdir(), 'herdless-cluster-'));
  if (ports.length === 0) ports = await freeClusterPorts();
  const launch = (port: number) =>
    spawn(server, [
      '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeoutMs),
      '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      ...extraArgs,
    ], { stdio: 'ignore' });
  const nodes: ClusterNode[] = ports.map((port) => ({ port, process: launch(port) }));
  const killAll = () => nodes.forEach((node) => node.process.exitCode === null && node.process.kill('SIGKILL'));
  process.once('exit', killAll);
  const cli = (port: number, ...args: string[]) => {
    const result = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
    if (result.error) throw result.error;
    return result.stdout;
  };
  const cluster: LocalCluster = {
    nodes,
    rootNodes: ports.map((port) => ({ url: `redis://127.0.0.1:${port}` })),
    cli,
    async restart(port) {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no cluster node on port ${port}`);
      if (node.process.exitCode === null && node.process.signalCode === null) throw new Error(`the node on port ${port} is still running`);
      // Its nodes.conf survives: it rejoins with its identity, as a replica of whoever took its slots.
      node.process = launch(port);
      await waitForPing(cli, port);
    },
    async masterOf(slot) {
      for (const [from, to, [, port]] of clusterSlots(cli, alivePort(nodes))) if (slot >= from && slot <= to) return port;
      throw new Error(`no master owns slot ${slot}`);
    },
    async masters() {
      return clusterSlots(cli, alivePort(nodes)).map(([, , [, port]]) => port);
    },
    async waitUntilHealthy(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const alive = nodes.filter((node) => node.process.exitCode === null && node.process.signalCode === null);
        const states = alive.map((node) => /cluster_state:(\w+)/.exec(cli(node.port, 'cluster', 'info'))?.[1]);
        if (states.every((state) => state === 'ok') && agree(alive[0].port)) return;
        if (Date.now() > deadline) throw new Error(`cluster not healthy: ${states.join(', ')}`);
        await sleep(100);
      }
    },
    async stop() {
      process.off('exit', killAll);
      await Promise.all(nodes.map((node) => new Promise<void>((resolve) => {
        if (node.process.exitCode !== null || node.process.signalCode !== null) return resolve();
        node.process.once('exit', () => resolve());
        node.process.kill('SIGKILL');
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (const port of ports) await waitForPing(cli, port);
    await beforeCreate?.(cluster);
    const created = await runAsync('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '1', '--cluster-yes'], 60_000);
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.output}`);
    await cluster.waitUntilHealthy();
    // Every replica must be attached before failover can be tested.
    for (;;) {
      const replicas = nodes.filter((node) => /role:slave[\s\S]*master_link_status:up/.test(cli(node.port, 'info', 'replication')));
      if (replicas.length === 3) break;
      await sleep(100);
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** Runs a command without blocking this process; resolves with its exit status and output (stdout and stderr). */
export function runAsync(command: string, args: string[], timeoutMs: number): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', (error) => resolve({ status: null, output: `${output}${error.message}` }));
    child.once('close', (status) => resolve({ status, output }));
  });
}

/** `redis-cli --cluster check`: every node has the same view of who owns which slot. */
function agree(port: number): boolean {
  const check = spawnSync('redis-cli', ['--cluster', 'check', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
  return check.stdout.includes('All nodes agree about slots configuration') && check.stdout.includes('All 16384 slots covered');
}

type SlotRange = [number, number, [string, number]];

function clusterSlots(cli: LocalCluster['cli'], port: number): SlotRange[] {
  // redis-cli prints CLUSTER SLOTS flattened: from, to, master ip, port, id, replica ip, port, id ...
  const out = cli(port, '--json', 'cluster', 'slots');
  return (JSON.parse(out) as [number, number, [string, number, string], ...unknown[]][]).map(([from, to, [ip, p]]) => [from, to, [ip, p]]);
}

function alivePort(nodes: ClusterNode[]): number {
  const node = nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null);
  if (!node) throw new Error('no cluster node is alive');
  return node.port;
}

async function waitForPing(cli: LocalCluster['cli'], port: number) {
  for (let i = 0; i < 200; i++) {
    if (cli(port, 'ping').trim() === 'PONG') return;
    await sleep(25);
  }
  throw new Error(`redis-server on ${port} did not start`);
}

/** Ports free now, and their cluster bus ports (port + 10000) too. */
export async function freeClusterPorts(count = 6): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await onePort();
    if (port + 10_000 < 65_536 && !ports.includes(port) && (await isFree(port + 10_000))) ports.push(port);
  }
  return ports;
}

function onePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
