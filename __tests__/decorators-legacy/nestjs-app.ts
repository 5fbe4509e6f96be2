/*
 * The Nest application of the HerdlessModule tests, shared by the test process and the worker process
 * (nestjs-app-worker.ts): a controller calling a provider whose @Cached method names no cache, so the
 * module's default cache is the only way it can be cached. The method counts its runs in Redis, where
 * every process's runs add up.
 */
import 'reflect-metadata';
import * as nest from '@nestjs/common';
import { Controller, Injectable, Module, Param, type DynamicModule, type Type } from '@nestjs/common';
import type { createClient } from 'redis';
import { Cached } from '../../decorators';

// Nest types its method decorators for experimentalDecorators only, and the root project type-checks this
// file with standard decorators too (as nest.test.ts does).
type AnyDecorator = (...args: any[]) => any;
const Get = (path: string): AnyDecorator => nest.Get(path);

export type RedisClient = ReturnType<typeof createClient>;

/**
 * Where the application counts, in Redis under `prefix`: `:requests` (requests that reached the
 * controller) and `:computations` (runs of the cached method). A computation ends only once `together`
 * requests have reached a controller, in any process (0 when the method is called directly), and 300 ms
 * after that: whichever process computes, the others' requests arrive while it still holds the lease.
 */
export class Counters {
  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
    readonly together: number,
  ) {}

  async requests(): Promise<number> {
    return Number(await this.redis.get(`${this.prefix}:requests`));
  }

  async computations(): Promise<number> {
    return Number(await this.redis.get(`${this.prefix}:computations`));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Report {
  month: string;
  computedBy: number;
  computation: number;
}

@Injectable()
export class ReportService {
  constructor(private readonly counters: Counters) {}

  @Cached('1m')
  async monthly(month: string): Promise<Report> {
    const computation = await this.counters.redis.incr(`${this.counters.prefix}:computations`);
    // Bounded, so a request that never arrives fails the test by its assertions rather than hanging it.
    for (let i = 0; i < 200 && (await this.counters.requests()) < this.counters.together; i++) await sleep(25);
    await sleep(300);
    return { month, computedBy: process.pid, computation };
  }
}

@Controller('reports')
export class ReportController {
  constructor(
    private readonly reports: ReportService,
    private readonly counters: Counters,
  ) {}

  @Get(':month')
  async monthly(
    // @ts-ignore parameter decorators exist only with experimentalDecorators; the root project checks standard ones
    @Param('month') month: string,
  ): Promise<Report> {
    await this.counters.redis.incr(`${this.counters.prefix}:requests`);
    return this.reports.monthly(month);
  }
}

/** The application's root module, importing `herdless` (a HerdlessModule.forRoot or forRootAsync). */
export function reportsApp(herdless: DynamicModule, counters: Counters): Type {
  @Module({ imports: [herdless], controllers: [ReportController], providers: [ReportService, { provide: Counters, useValue: counters }] })
  class AppModule {}
  return AppModule;
}
