import 'reflect-metadata';
import { CacheConfig, Cached, CacheEvict } from '../../decorators';
import type { Cache } from '../../src';
import { Runs, useRedis } from './helpers';

/*
 * Standard (TC39) decorators that keep Reflect metadata on the method function, as libraries written for
 * legacy decorators do: a herdless decorator that replaces the function carries that metadata to its
 * replacement, in either order.
 */
const redis = useRedis();

const ROLE = 'test:role';
function Role(role: string) {
  return (value: Function, _context: ClassMethodDecoratorContext): void => {
    Reflect.defineMetadata(ROLE, role, value);
  };
}

function defineService(cache: Cache) {
  const runs = new Runs();
  @CacheConfig({ cache })
  class Reports {
    // Role is applied first, to the original function; @Cached replaces it afterwards.
    @Cached()
    @Role('reader')
    async below(id: string): Promise<string> {
      runs.count('below');
      return `below ${id}`;
    }

    // @Cached is applied first; Role annotates its replacement.
    @Role('reader')
    @Cached()
    async above(id: string): Promise<string> {
      runs.count('above');
      return `above ${id}`;
    }

    @CacheEvict('below')
    @Role('writer')
    async update(id: string): Promise<void> {
      runs.count(`update ${id}`);
    }
  }
  return { Reports, runs };
}

test('Reflect metadata on the method function survives @Cached and @CacheEvict in standard mode', async () => {
  const { Reports, runs } = defineService(redis.cache());
  const proto = Reports.prototype;
  expect(Reflect.getOwnMetadata(ROLE, proto.below)).toBe('reader');
  expect(Reflect.getOwnMetadata(ROLE, proto.above)).toBe('reader');
  expect(Reflect.getOwnMetadata(ROLE, proto.update)).toBe('writer');
  const reports = new Reports();
  expect(await reports.below('1')).toBe('below 1');
  expect(await reports.below('1')).toBe('below 1');
  await reports.update('1');
  expect(await reports.below('1')).toBe('below 1');
  expect([runs.of('below'), runs.of('update 1')]).toEqual([2, 1]);
});
