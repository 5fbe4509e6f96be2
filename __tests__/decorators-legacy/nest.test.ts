import 'reflect-metadata';
import * as nest from '@nestjs/common';
import { Controller, Injectable, Module, Param, UseGuards, type CanActivate, type ExecutionContext, type INestApplication, type Type } from '@nestjs/common';
import { GUARDS_METADATA, HEADERS_METADATA, HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common/enums/request-method.enum';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { CacheConfig, Cached, CacheEvict } from '../../decorators';
import type { Cache } from '../../src';
import { Runs, useRedis } from '../decorators/helpers';

/*
 * A real NestJS application (experimentalDecorators and emitDecoratorMetadata, as Nest requires) whose
 * controller mixes herdless and Nest decorators in both orders. Nest keeps a handler's route, guards,
 * headers and status code as Reflect metadata on the method function itself, so a decorator that
 * replaces the function must carry that metadata to its replacement, whichever order they are written in.
 */
const redis = useRedis();

// Nest types its method decorators for experimentalDecorators only, and the root project type-checks this
// file with standard decorators too; these are Nest's own decorators, typed so both projects accept them.
type AnyDecorator = (...args: any[]) => any;
const Get = (path: string): AnyDecorator => nest.Get(path);
const Post = (path: string): AnyDecorator => nest.Post(path);
const Header = (name: string, value: string): AnyDecorator => nest.Header(name, value);
const HttpCode = (status: number): AnyDecorator => nest.HttpCode(status);

function defineApp(cache: Cache) {
  const runs = new Runs();

  @Injectable()
  class CountingGuard implements CanActivate {
    canActivate(context: ExecutionContext): boolean {
      runs.count(`guard:${context.getHandler().name}`);
      return true;
    }
  }

  @CacheConfig({ cache })
  @Controller('items')
  class ItemsController {
    // @Cached is applied last: it replaces a function Nest's decorators below it have already annotated.
    @Cached()
    @Get('x/:id')
    @UseGuards(CountingGuard)
    @Header('x-served-by', 'items')
    async x(
      // @ts-ignore parameter decorators exist only with experimentalDecorators; the root project checks standard ones
      @Param('id') id: string,
    ): Promise<{ id: string; route: string }> {
      runs.count('x');
      return { id, route: 'x' };
    }

    // @Cached is applied first: Nest's decorators above it annotate the function it returns.
    @Get('y/:id')
    @HttpCode(203)
    @UseGuards(CountingGuard)
    @Cached('1m')
    async y(
      // @ts-ignore parameter decorators exist only with experimentalDecorators; the root project checks standard ones
      @Param('id') id: string,
    ): Promise<{ id: string; route: string }> {
      runs.count('y');
      return { id, route: 'y' };
    }

    // @CacheEvict replaces the method too, above and below Nest's decorators.
    @CacheEvict('x')
    @Post('x/:id')
    @UseGuards(CountingGuard)
    @HttpCode(204)
    async updateX(
      // @ts-ignore parameter decorators exist only with experimentalDecorators; the root project checks standard ones
      @Param('id') id: string,
    ): Promise<void> {
      runs.count(`update:${id}`);
    }
  }

  @Module({ controllers: [ItemsController], providers: [CountingGuard] })
  class AppModule {}

  return { AppModule, ItemsController, CountingGuard, runs };
}

describe('NestJS controllers with @Cached and @CacheEvict', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(AppModule: Type): Promise<string> {
    app = await NestFactory.create(AppModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  test('routes, guards, headers and status codes survive in either decorator order, and responses are cached', async () => {
    const { AppModule, runs } = defineApp(redis.cache());
    const base = await start(AppModule);

    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/items/x/1`);
      expect(response.status).toBe(200);
      expect(response.headers.get('x-served-by')).toBe('items');
      expect(await response.json()).toEqual({ id: '1', route: 'x' });
    }
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${base}/items/y/2`);
      expect(response.status).toBe(203);
      expect(await response.json()).toEqual({ id: '2', route: 'y' });
    }
    expect([runs.of('x'), runs.of('y')]).toEqual([1, 1]);
    expect([runs.of('guard:x'), runs.of('guard:y')]).toEqual([2, 2]);

    const update = await fetch(`${base}/items/x/1`, { method: 'POST' });
    expect(update.status).toBe(204);
    expect(runs.of('update:1')).toBe(1);
    expect(runs.of('guard:updateX')).toBe(1);
    expect(await (await fetch(`${base}/items/x/1`)).json()).toEqual({ id: '1', route: 'x' });
    expect(runs.of('x')).toBe(2);
  });

  test('the metadata of every decorator is readable where Nest and tools read it', () => {
    const { ItemsController, CountingGuard } = defineApp(redis.cache());
    const proto = ItemsController.prototype;
    for (const method of ['x', 'y', 'updateX'] as const) {
      expect(Reflect.getMetadata('design:paramtypes', proto, method)).toEqual([String]);
      expect(Reflect.getMetadata('design:returntype', proto, method)).toBe(Promise);
      expect(Reflect.getMetadata(GUARDS_METADATA, proto[method])).toEqual([CountingGuard]);
    }
    expect(Reflect.getMetadata(PATH_METADATA, proto.x)).toBe('x/:id');
    expect(Reflect.getMetadata(METHOD_METADATA, proto.x)).toBe(RequestMethod.GET);
    expect(Reflect.getMetadata(HEADERS_METADATA, proto.x)).toEqual([{ name: 'x-served-by', value: 'items' }]);
    expect(Reflect.getMetadata(PATH_METADATA, proto.y)).toBe('y/:id');
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, proto.y)).toBe(203);
    expect(Reflect.getMetadata(PATH_METADATA, proto.updateX)).toBe('x/:id');
    expect(Reflect.getMetadata(METHOD_METADATA, proto.updateX)).toBe(RequestMethod.POST);
    expect(Reflect.getMetadata(HTTP_CODE_METADATA, proto.updateX)).toBe(204);
  });
});
