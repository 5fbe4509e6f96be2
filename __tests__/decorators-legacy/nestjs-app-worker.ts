/*
 * The second process of the HerdlessModule tests: the same Nest application (nestjs-app.ts), with its
 * own HerdlessModule.forRoot() cache on the Redis and namespace the parent passes, listening on a port of
 * its own. It reports the port, then closes the application when the parent says 'close' and reports
 * whether the shutdown closed the module's cache.
 */
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { ClosedError, type Cache } from '../../src';
import { HERDLESS_CACHE, HerdlessModule } from '../../nestjs';
import { Counters, reportsApp } from './nestjs-app';

export type WorkerMessage = { type: 'listening'; port: number } | { type: 'closed'; cacheClosed: boolean };

async function main(): Promise<void> {
  const url = process.env.REDIS_URL!;
  const namespace = process.env.HERDLESS_NAMESPACE!;
  const redis = createClient({ url });
  await redis.connect();
  const AppModule = reportsApp(HerdlessModule.forRoot({ redis: { url }, namespace }), new Counters(redis, namespace, Number(process.env.TOGETHER)));
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  await app.listen(0, '127.0.0.1');
  const cache = app.get<Cache>(HERDLESS_CACHE);
  process.once('message', async (message) => {
    if (message !== 'close') return;
    await app.close();
    const cacheClosed = await cache.get('any').then(() => false, (error) => error instanceof ClosedError);
    await redis.quit();
    process.send!({ type: 'closed', cacheClosed } satisfies WorkerMessage, () => process.disconnect());
  });
  process.send!({ type: 'listening', port: (app.getHttpServer().address() as AddressInfo).port } satisfies WorkerMessage);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
