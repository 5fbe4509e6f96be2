/*
 * A NestJS application whose service caches a slow query with @Cached, wired by HerdlessModule: no cache
 * passed to the service, nothing to close by hand. Run it:
 *   TS_NODE_PROJECT=tsconfig.legacy.json npx ts-node --transpile-only examples/nestjs/main.ts
 * It starts its own Redis unless REDIS_URL is set, boots the application on a free port, sends it a few
 * requests, and closes it.
 */
import 'reflect-metadata'; // Nest needs it (emitDecoratorMetadata); herdless does not
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { keyOf } from '../../decorators';
import { HERDLESS_CACHE } from '../../nestjs';
import { ClosedError, type Cache } from '../../src';
import { check, exampleRedis, runExample } from '../../support/examples';
import { AppModule } from './app.module';
import { ProductsService, type Product } from './products.service';

let stop = async () => {};
runExample(async () => {
  const redis = await exampleRedis('nestjs');
  // What a deployed application has in its environment.
  process.env.REDIS_URL = redis.url;
  process.env.CACHE_NAMESPACE = redis.namespace;

  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  stop = async () => {
    await app.close();
    await redis.stop();
  };
  app.enableShutdownHooks(); // a server's SIGTERM runs the same shutdown as app.close()
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  const products = app.get(ProductsService);
  const get = async (path: string) => (await (await fetch(`${base}${path}`)).json()) as Product;

  const [a, b, c] = await Promise.all([get('/products/p1'), get('/products/p1'), get('/products/p1')]);
  console.log(`3 concurrent GET /products/p1 -> ${a.name}, ${b.name}, ${c.name}`);
  console.log(`  database queries: ${products.queries}: one computation, shared by all three requests`);
  check(products.queries === 1 && [a, b, c].every((p) => p.name === 'Desk lamp'), 'one query for three concurrent requests');

  const again = await get('/products/p1');
  console.log(`\nGET /products/p1 again -> ${again.name}; database queries: ${products.queries} (served from Redis)`);
  check(products.queries === 1, 'the fourth request came from the cache');
  console.log(`  the Redis key: ${keyOf(products.getProduct, 'p1')}`);

  const cache = app.get<Cache>(HERDLESS_CACHE);
  await app.close();
  stop = () => redis.stop();
  const closed = await cache.get('any').then(() => false, (error) => error instanceof ClosedError);
  console.log(`\napp.close(): the module closed the cache it created: ${closed}`);
  check(closed, 'the shutdown closed the cache');
}, () => stop());
