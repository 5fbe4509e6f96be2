import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemRedisServer } from './embedded-redis';
import { freeClusterPorts, runAsync } from './redis-cluster';

/*
 * Redis over TLS for tests: a throw-away certificate authority and a server certificate for 127.0.0.1 made
 * with openssl, a redis-server listening on a TLS port only (`--port 0`, so every connection a test sees
 * succeed is a TLS one), and a cluster of masters that also speak TLS to each other. Servers are killed on
 * `stop()`, and if the test process exits first.
 */

export interface Certificates {
  readonly dir: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM text, as node-redis' `socket.ca` / `socket.cert` / `socket.key` take it. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
  remove(): void;
}

/**
 * Why TLS tests cannot run here ('' when they can): no openssl or no redis-server. A redis-server built
 * without TLS is told by the server itself: it refuses `--tls-port`, and startTlsRedis fails with its words.
 */
export function tlsUnavailable(): string {
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (openssl.error || openssl.status !== 0) return `openssl is not on PATH (${openssl.error?.message ?? openssl.stderr})`;
  if (!systemRedisServer()) return 'redis-server is not on PATH';
  return '';
}

/**
 * A CA and a certificate for 127.0.0.1 and localhost signed by it (EC P-256: made in milliseconds). The
 * certificate serves both ends (serverAuth and clientAuth): cluster nodes present it to each other, and
 * tests present it as a client certificate where the server asks for one.
 */
export function makeCertificates(commonName = 'herdless test'): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'herdless-tls-'));
  const path = (name: string) => join(dir, name);
  writeFileSync(path('server.ext'), [
    'basicConstraints=CA:FALSE',
    'keyUsage=digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ].join('\n') + '\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', `/CN=${commonName} CA`);
  openssl(dir, 'req', '-new', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  openssl(dir, 'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  return {
    dir,
    caFile: path('ca.crt'),
    certFile: path('server.crt'),
    keyFile: path('server.key'),
    ca: readFileSync(path('ca.crt'), 'utf8'),
    cert: readFileSync(path('server.crt'), 'utf8'),
    key: readFileSync(path('server.key'), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function openssl(cwd: string, ...args: string[]): void {
  const result = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (result.error || result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
}

export interface TlsServerOptions {
  /** `tls-auth-clients`: 'no' (the default here) or 'yes', to require a client certificate signed by the CA. */
  authClients?: 'no' | 'yes' | 'optional';
  /** Given to redis-server after the TLS options. */
  extraArgs?: string[];
}

export interface TlsRedis {
  readonly port: number;
  /** `rediss://127.0.0.1:<port>` */
  readonly url: string;
  readonly process: ChildProcess;
  /** redis-cli over TLS (with the CA, and the client certificate) against this server; returns its output. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/** One redis-server with a TLS port and no plain-text port, without persistence. */
export async function startTlsRedis(certs: Certificates, { authClients = 'no', extraArgs = [] }: TlsServerOptions = {}): Promise<TlsRedis> {
  const [port] = await freeClusterPorts(1);
  const [node] = await spawnNodes(certs, [port], ['--tls-auth-clients', authClients, ...extraArgs]);
  return { port, url: `rediss://127.0.0.1:${port}`, process: node.process, cli: (...args) => tlsCli(certs, port, ...args), stop: node.stop };
}

export interface TlsCluster {
  readonly ports: number[];
  readonly rootNodes: { url: string }[];
  readonly processes: ChildProcess[];
  cli(port: number, ...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * `masters` cluster nodes, no replicas, on TLS ports only, with the cluster bus (`tls-cluster`) and
 * replication (`tls-replication`) over TLS too; formed with `redis-cli --tls --cluster create` and ready
 * once every node reports cluster_state:ok and agrees on the slots.
 */
export async function startTlsCluster(certs: Certificates, { masters = 3, extraArgs = [] }: { masters?: number; extraArgs?: string[] } = {}): Promise<TlsCluster> {
  const ports = await freeClusterPorts(masters);
  const dir = mkdtempSync(join(tmpdir(), 'herdless-tls-cluster-'));
  const nodes = await spawnNodes(certs, ports, (port) => [
    '--tls-auth-clients', 'no', '--tls-cluster', 'yes', '--tls-replication', 'yes',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000', '--dir', dir,
    ...extraArgs,
  ]);
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  const cli = (port: number, ...args: string[]) => tlsCli(certs, port, ...args);
  try {
    const created = await runAsync('redis-cli', [...tlsArgs(certs), '--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], 60_000);
    if (created.status !== 0) throw new Error(`redis-cli --tls --cluster create failed (${created.status}): ${created.output}`);
    for (const deadline = Date.now() + 30_000; ; ) {
      const states = ports.map((port) => /cluster_state:(\w+)/.exec(cli(port, 'cluster', 'info'))?.[1]);
      const check = spawnSync('redis-cli', [...tlsArgs(certs), '--cluster', 'check', `127.0.0.1:${ports[0]}`], { encoding: 'utf8', timeout: 30_000 }).stdout;
      if (states.every((state) => state === 'ok') && check.includes('All nodes agree about slots configuration') && check.includes('All 16384 slots covered')) break;
      if (Date.now() > deadline) throw new Error(`TLS cluster not healthy: ${states.join(', ')}\n${check}`);
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports, rootNodes: ports.map((port) => ({ url: `rediss://127.0.0.1:${port}` })), processes: nodes.map((node) => node.process), cli, stop };
}

interface SpawnedNode {
  process: ChildProcess;
  stop(): Promise<void>;
}

async function spawnNodes(certs: Certificates, ports: number[], args: string[] | ((port: number) => string[])): Promise<SpawnedNode[]> {
  const server = systemRedisServer();
  if (!server) throw new Error('TLS tests need redis-server on PATH (Debian: apt-get install redis-server)');
  const nodes = ports.map((port) => {
    const child = spawn(server, [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
      '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-ca-cert-file', certs.caFile,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no',
      ...(typeof args === 'function' ? args(port) : args),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Kept for the error message of a server that does not come up (a build without TLS says so here).
    let output = '';
    child.stdout!.on('data', (chunk) => (output = (output + chunk).slice(-4_000)));
    child.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-4_000)));
    const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
    process.once('exit', kill);
    const stop = () => new Promise<void>((resolve) => {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    return { port, process: child, stop, output: () => output };
  });
  try {
    for (const node of nodes) {
      for (let i = 0; ; i++) {
        if (node.process.exitCode !== null) throw new Error(`redis-server on TLS port ${node.port} exited with ${node.process.exitCode}: ${node.output()}`);
        if (tlsCli(certs, node.port, 'ping').trim() === 'PONG') break;
        if (i === 200) throw new Error(`redis-server on TLS port ${node.port} did not answer PING over TLS: ${node.output()}`);
        await sleep(25);
      }
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return nodes;
}

function tlsArgs(certs: Certificates): string[] {
  return ['--tls', '--cacert', certs.caFile, '--cert', certs.certFile, '--key', certs.keyFile];
}

function tlsCli(certs: Certificates, port: number, ...args: string[]): string {
  const result = spawnSync('redis-cli', [...tlsArgs(certs), '-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw result.error;
  return result.stdout;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
