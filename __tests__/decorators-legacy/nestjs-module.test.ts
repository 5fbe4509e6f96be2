import 'reflect-metadata';
import { Injectable, Module, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createClient } from 'redis';
import { getDefaultCache, keyOf, setDefaultCache } from '../../decorators';
import { HERDLESS_CACHE, HerdlessModule, InjectCache } from '../../nestjs';
import { Cache, ClosedError, InvalidOptionError } from '../../src';
import { useRedis } from '../decorators/helpers';
import { Counters, ReportService, reportsApp, type RedisClient, type Report } from './nestjs-app';
import type { WorkerMessage } from './nestjs-app-worker';

/*
 * herdless/nestjs in real Nest applications (experimentalDecorators and emitDecoratorMetadata, as Nest
 * requires) on this file's Redis: what a request returns, how often the cached method ran (counted in
 * Redis, so runs in other processes count too), what Redis holds, and what stays open after app.close().
 */
const redis = useRedis();
const ROOT = join(__dirname, '..', '..');
let namespaces = 0;
const nextNamespace = () => `nest-module-${process.pid}-${++namespaces}`;

let open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  // Tests close what they assert on themselves; this ends whatever a failed assertion left open.
  for (const app of open.splice(0).reverse()) await app.close().catch(() => undefined);
});

async function listen(AppModule: Type): Promise<{ app: INestApplication; base: string }> {
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  open.push(app);
  await app.listen(0, '127.0.0.1');
  return { app, base: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

async function compile(metadata: Parameters<typeof Test.createTestingModule>[0]): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  open.push(moduleRef);
  return moduleRef;
}

async function report(base: string, month: string): Promise<Report> {
  const response = await fetch(`${base}/reports/${month}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Report;
}

/** The names of the connections Redis has open now. */
async function connectionNames(): Promise<string[]> {
  const list = (await (await redis.client()).sendCommand(['CLIENT', 'LIST'])) as string;
  return list.split('\n').map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '');
}

async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not within 10 s: ${what}`);
}

const isClosed = (cache: Cache) => cache.get('any').then(() => false, (error) => error instanceof ClosedError);

describe('HerdlessModule in a Nest application', () => {
  test('a request through a controller reaches a @Cached provider that names no cache: computed once, then served from Redis', async () => {
    const namespace = nextNamespace();
    const counters = new Counters(await redis.client(), namespace, 1);
    const { app, base } = await listen(reportsApp(HerdlessModule.forRoot({ redis: { url: redis.url }, namespace }), counters));

    const reports = [];
    for (let i = 0; i < 3; i++) reports.push(await report(base, '2024-06'));
    expect(reports).toEqual([1, 2, 3].map(() => ({ month: '2024-06', computedBy: process.pid, computation: 1 })));
    expect(await counters.requests()).toBe(3);
    expect(await counters.computations()).toBe(1);

    // The value lives in the module's cache, under its namespace.
    const key = keyOf(app.get(ReportService).monthly, '2024-06');
    expect(key.startsWith(`${namespace}:{`)).toBe(true);
    expect(await (await redis.client()).exists(key)).toBe(1);
    await app.close();
  });

  test('two applications in two processes, asked at the same moment, compute once', async () => {
    const namespace = nextNamespace();
    const counters = new Counters(await redis.client(), namespace, 2);
    const worker = fork(join(__dirname, 'nestjs-app-worker.ts'), [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, REDIS_URL: redis.url, HERDLESS_NAMESPACE: namespace, TOGETHER: '2', TS_NODE_PROJECT: join(ROOT, 'tsconfig.legacy.json') },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      const exited = new Promise<number | null>((resolve) => worker.once('exit', resolve));
      const messages: WorkerMessage[] = [];
      const next = new Promise<void>((resolve) => worker.on('message', (message: WorkerMessage) => (messages.push(message), resolve())));
      const failed = exited.then((code) => Promise.reject(new Error(`worker exited with ${code}`)));
      await Promise.race([next, failed]);
      const listening = messages[0];
      if (listening?.type !== 'listening') throw new Error(`worker sent ${JSON.stringify(listening)}`);

      const { app, base } = await listen(reportsApp(HerdlessModule.forRoot({ redis: { url: redis.url }, namespace }), counters));
      const [here, there] = await Promise.all([report(base, '2024-07'), report(`http://127.0.0.1:${listening.port}`, '2024-07')]);
      expect(await counters.requests()).toBe(2);
      expect(await counters.computations()).toBe(1);
      expect(there).toEqual(here);
      expect(here.computation).toBe(1);
      expect([process.pid, worker.pid]).toContain(here.computedBy);

      const closed = new Promise<WorkerMessage>((resolve) => worker.on('message', resolve));
      worker.send('close');
      expect(await Promise.race([closed, failed])).toEqual({ type: 'closed', cacheClosed: true });
      expect(await exited).toBe(0);
      await app.close();
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
    }
  });
});

describe('HerdlessModule shutdown', () => {
  test('closes the cache it created from options, and leaves a Redis client passed in open', async () => {
    const namespace = nextNamespace();
    const name = `${namespace}-owner`;
    const own: RedisClient = createClient({ url: redis.url, name });
    await own.connect();
    try {
      const counters = new Counters(await redis.client(), namespace, 1);
      const { app, base } = await listen(reportsApp(HerdlessModule.forRoot({ redis: own, namespace }), counters));
      const cache = app.get<Cache>(HERDLESS_CACHE);
      expect((await report(base, '2024-08')).computation).toBe(1);

      await app.close();
      expect(await isClosed(cache)).toBe(true);
      expect(await own.ping()).toBe('PONG');
      // Whatever herdless opened beside the client (a duplicate for subscriptions) is gone; the client is not.
      await eventually(async () => (await connectionNames()).filter((n) => n === name).length === 1, 'only the client passed in stays connected');
      expect(own.isReady).toBe(true);
    } finally {
      await own.quit();
    }
  });

  test('a cache created from connection options takes its connections with it', async () => {
    const namespace = nextNamespace();
    const name = `${namespace}-module`;
    const counters = new Counters(await redis.client(), namespace, 1);
    const { app, base } = await listen(reportsApp(HerdlessModule.forRoot({ redis: { url: redis.url, name }, namespace }), counters));
    const cache = app.get<Cache>(HERDLESS_CACHE);
    await report(base, '2024-09');
    expect((await connectionNames()).filter((n) => n === name).length).toBeGreaterThan(0);

    await app.close();
    expect(await isClosed(cache)).toBe(true);
    await eventually(async () => !(await connectionNames()).includes(name), "the module's connections closed");
  });

  test('forRoot({ cache }) provides that cache as the default, and leaves it open', async () => {
    const cache = redis.cache();
    // Called directly, not through a controller: no request to wait for.
    const counters = new Counters(await redis.client(), nextNamespace(), 0);
    const moduleRef = await compile({ imports: [HerdlessModule.forRoot({ cache })], providers: [ReportService, { provide: Counters, useValue: counters }] });
    expect(moduleRef.get(HERDLESS_CACHE)).toBe(cache);
    const first = await moduleRef.get(ReportService).monthly('2024-10');
    const key = keyOf(moduleRef.get(ReportService).monthly, '2024-10');

    await moduleRef.close();
    expect(await isClosed(cache)).toBe(false);
    expect(key.startsWith(`${cache.namespace}:{`)).toBe(true);
    expect(await (await redis.client()).exists(key)).toBe(1);
    expect(await cache.getOrSet('after-shutdown', () => 'still open')).toBe('still open');
    expect(first.computation).toBe(1);
    expect(await counters.computations()).toBe(1);
  });

  test('restores the default cache it replaced', async () => {
    const before = redis.cache();
    setDefaultCache(before);
    const moduleRef = await compile({ imports: [HerdlessModule.forRoot({ redis: { url: redis.url }, namespace: nextNamespace() })] });
    const provided = moduleRef.get<Cache>(HERDLESS_CACHE);
    expect(getDefaultCache()).toBe(provided);
    await moduleRef.close();
    expect(getDefaultCache()).toBe(before);

    setDefaultCache(undefined);
    const again = await compile({ imports: [HerdlessModule.forRoot({ redis: { url: redis.url }, namespace: nextNamespace() })] });
    expect(getDefaultCache()).toBe(again.get(HERDLESS_CACHE));
    await again.close();
    expect(getDefaultCache()).toBeUndefined();
  });

  test.each([
    ['the order they started', [0, 1]],
    ['the reverse order', [1, 0]],
  ])('applications sharing a process, closed in %s, never leave a closed cache as the default', async (_, order) => {
    const before = redis.cache();
    setDefaultCache(before);
    const apps = [
      await compile({ imports: [HerdlessModule.forRoot({ redis: { url: redis.url }, namespace: nextNamespace() })] }),
      await compile({ imports: [HerdlessModule.forRoot({ redis: { url: redis.url }, namespace: nextNamespace() })] }),
    ];
    const caches = apps.map((app) => app.get<Cache>(HERDLESS_CACHE));
    expect(getDefaultCache()).toBe(caches[1]);

    await apps[order[0]].close();
    expect(getDefaultCache()).toBe(caches[order[1]]);
    expect(await isClosed(caches[order[1]])).toBe(false);
    await apps[order[1]].close();
    expect(getDefaultCache()).toBe(before);
  });
});

describe('HerdlessModule providers', () => {
  class ConfigService {
    constructor(private readonly values: Record<string, string>) {}
    get(name: string): string {
      return this.values[name];
    }
  }

  test('forRootAsync calls its factory with the providers of the modules it imports', async () => {
    const namespace = nextNamespace();
    const config = new ConfigService({ REDIS_URL: redis.url, CACHE_NAMESPACE: namespace });
    @Module({ providers: [{ provide: ConfigService, useValue: config }], exports: [ConfigService] })
    class ConfigModule {}
    const calls: unknown[][] = [];
    const herdless = HerdlessModule.forRootAsync({
      imports: [ConfigModule],
      useFactory: async (...args: unknown[]) => {
        calls.push(args);
        const given = args[0] as ConfigService;
        return { redis: { url: given.get('REDIS_URL') }, namespace: given.get('CACHE_NAMESPACE') };
      },
      inject: [ConfigService],
    });
    const counters = new Counters(await redis.client(), namespace, 1);
    const { app, base } = await listen(reportsApp(herdless, counters));
    expect(calls).toEqual([[config]]);
    const cache = app.get<Cache>(HERDLESS_CACHE);
    expect(cache.namespace).toBe(namespace);
    expect(getDefaultCache()).toBe(cache);

    expect((await report(base, '2024-11')).computation).toBe(1);
    expect((await report(base, '2024-11')).computation).toBe(1);
    expect(await counters.computations()).toBe(1);
    expect(await (await redis.client()).exists(keyOf(app.get(ReportService).monthly, '2024-11'))).toBe(1);

    await app.close();
    expect(await isClosed(cache)).toBe(true);
  });

  test('forRootAsync with a factory resolving to { cache } leaves that cache open', async () => {
    const cache = redis.cache();
    const moduleRef = await compile({ imports: [HerdlessModule.forRootAsync({ useFactory: async () => ({ cache }) })] });
    expect(moduleRef.get(HERDLESS_CACHE)).toBe(cache);
    await moduleRef.close();
    expect(await isClosed(cache)).toBe(false);
  });

  test('@InjectCache() and the Cache type inject the module cache, in constructors and properties', async () => {
    @Injectable()
    class PriceService {
      // @ts-ignore property decorators of Nest's kind exist only with experimentalDecorators; the root project checks standard ones
      @InjectCache() readonly property!: Cache;

      constructor(
        // @ts-ignore parameter decorators exist only with experimentalDecorators; the root project checks standard ones
        @InjectCache() readonly injected: Cache,
        readonly byType: Cache,
      ) {}

      price(sku: string, compute: () => number): Promise<number> {
        return this.injected.getOrSet(`price:${sku}`, compute);
      }
    }
    const namespace = nextNamespace();
    const moduleRef = await compile({ imports: [HerdlessModule.forRoot({ redis: { url: redis.url }, namespace })], providers: [PriceService] });
    const service = moduleRef.get(PriceService);
    const cache = moduleRef.get<Cache>(HERDLESS_CACHE);
    expect(cache).toBeInstanceOf(Cache);
    expect(service.injected).toBe(cache);
    expect(service.byType).toBe(cache);
    expect(service.property).toBe(cache);

    let runs = 0;
    expect(await service.price('a1', () => ++runs * 10)).toBe(10);
    expect(await service.price('a1', () => ++runs * 10)).toBe(10);
    expect(runs).toBe(1);
    expect(await (await redis.client()).exists(`${namespace}:{price:a1}:v`)).toBe(1);
    await moduleRef.close();
  });
});

describe('HerdlessModule refuses what it cannot use, saying what to pass instead', () => {
  function refusal(thunk: () => unknown): InvalidOptionError {
    try {
      thunk();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).code).toBe('ERR_HERDLESS_INVALID_OPTION');
      return error as InvalidOptionError;
    }
    throw new Error('nothing was thrown');
  }

  test('forRoot with something that is not cache options or { cache }', () => {
    const forRoot = HerdlessModule.forRoot as (options: unknown) => unknown;
    expect(refusal(() => forRoot('redis://cache.internal:6380')).message).toBe(
      "herdless: HerdlessModule.forRoot: the argument must be cache options, e.g. { redis: { url: process.env.REDIS_URL }, namespace: 'api' }, or { cache } with a cache from createCache(); got 'redis://cache.internal:6380'; to connect to a URL, pass { redis: { url: 'redis://cache.internal:6380' } }",
    );
    expect(refusal(() => forRoot(null)).message).toMatch(/^herdless: HerdlessModule\.forRoot: the argument must be cache options, .*; got null$/);
    expect(refusal(() => forRoot([{ redis: {} }])).message).toMatch(/; got an array$/);

    const cache = redis.cache();
    expect(refusal(() => forRoot(cache)).message).toMatch(/^herdless: HerdlessModule\.forRoot: the argument is a Cache; pass it as \{ cache \}/);
    const both = refusal(() => forRoot({ cache, ttl: '1m' }));
    expect(both.option).toBe('ttl');
    expect(both.message).toMatch(/^herdless: HerdlessModule\.forRoot: \{ cache \} takes no other options \(got ttl\): .*pass them to createCache\(\)/);
    const notACache = refusal(() => forRoot({ cache: { getOrSet() {} } }));
    expect(notACache.option).toBe('cache');
    expect(notACache.message).toMatch(/^herdless: HerdlessModule\.forRoot: option 'cache' must be a cache from createCache\(\)/);
  });

  test('forRoot with cache options createCache() would refuse', () => {
    const ttl = refusal(() => HerdlessModule.forRoot({ ttl: 'soon' as never }));
    expect(ttl.option).toBe('ttl');
    expect(ttl.message).toMatch(/^herdless: HerdlessModule\.forRoot: option 'ttl'/);
    const unknown = refusal(() => HerdlessModule.forRoot({ url: redis.url } as never));
    expect(unknown.message).toMatch(/^herdless: HerdlessModule\.forRoot: unknown option 'url'; known options are redis, namespace/);
  });

  test('forRootAsync without useFactory, or with options it does not take', () => {
    const forRootAsync = HerdlessModule.forRootAsync as (options: unknown) => unknown;
    const missing = refusal(() => forRootAsync({ imports: [], inject: [] }));
    expect(missing.option).toBe('useFactory');
    expect(missing.message).toMatch(/^herdless: HerdlessModule\.forRootAsync: option 'useFactory' must be a function returning the cache options or \{ cache \}, e\.g\. useFactory: \(config: ConfigService\) => .*; got undefined$/);
    expect(refusal(() => forRootAsync({ useFactory: { redis: {} } })).message).toMatch(/option 'useFactory' must be a function .*; got \{"redis":\{\}\}$/);
    expect(refusal(() => forRootAsync(undefined)).message).toMatch(/^herdless: HerdlessModule\.forRootAsync\(\) takes \{ imports\?, useFactory, inject\? \}, e\.g\. .*; got undefined$/);
    expect(refusal(() => forRootAsync({ useFactory: () => ({}), useClass: class {} })).message).toBe(
      "herdless: HerdlessModule.forRootAsync: unknown option 'useClass'; known options are imports, useFactory, inject",
    );
    expect(refusal(() => forRootAsync({ useFactory: () => ({}), inject: ConfigServiceLike })).option).toBe('inject');
    expect(refusal(() => forRootAsync({ useFactory: () => ({}), imports: ConfigServiceLike })).option).toBe('imports');
  });

  test('forRootAsync whose factory returns something that is not cache options: the application does not start', async () => {
    const started = Test.createTestingModule({ imports: [HerdlessModule.forRootAsync({ useFactory: () => redis.url as never })] }).compile();
    const error = await started.then(
      (moduleRef) => (open.push(moduleRef), undefined),
      (error: unknown) => error,
    );
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/^herdless: HerdlessModule\.forRootAsync: what useFactory returned must be cache options, .*; got 'redis:\/\/127\.0\.0\.1:\d+'; to connect to a URL, pass \{ redis: \{ url: /);
  });
});

class ConfigServiceLike {}
