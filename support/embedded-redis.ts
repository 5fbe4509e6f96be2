import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { RedisMemoryServer } from 'redis-memory-server';

/** The redis-server on PATH, if any. Without one, redis-memory-server falls back to its own download. */
export function systemRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'redis-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export interface EmbeddedRedis {
  readonly url: string;
  readonly port: number;
  /** The redis-server process id (to SIGSTOP/SIGKILL it in fault tests). */
  readonly pid: number;
  /** Stops the server; `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A throw-away Redis on a free loopback port, without persistence. */
export async function startRedis(): Promise<EmbeddedRedis> {
  const systemBinary = systemRedisServer();
  const server = new RedisMemoryServer({
    binary: systemBinary ? { systemBinary } : undefined,
    instance: { args: ['--save', '', '--appendonly', 'no'] },
  });
  await server.start();
  const port = await server.getPort();
  const info = () => {
    const running = server.getInstanceInfo();
    if (!running) throw new Error('embedded Redis is not running');
    return running;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return info().instance.getPid() ?? -1;
    },
    async stop() {
      await server.stop();
    },
    async start() {
      await server.start();
    },
  };
}
