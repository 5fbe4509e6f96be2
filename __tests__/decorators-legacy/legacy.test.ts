import 'reflect-metadata';
import { CACHED_METADATA_KEY, CACHED_METHODS_METADATA_KEY, CONFIG_METADATA_KEY } from '../../decorators';
import { decoratorContract } from '../decorators/contract';
import { useRedis } from '../decorators/helpers';
import * as fixtures from './fixtures';

// This folder compiles with tsconfig.legacy.json: experimentalDecorators and emitDecoratorMetadata.
const redis = useRedis();
decoratorContract('legacy', fixtures, redis);

describe('legacy decorators with reflect-metadata', () => {
  test('the fixtures really are compiled as legacy decorators with emitted design metadata', () => {
    const { UserService } = fixtures.defineServices(redis.cache());
    expect(Reflect.getMetadata('design:paramtypes', UserService.prototype, 'getUser')).toEqual([String]);
    expect(Reflect.getMetadata('design:returntype', UserService.prototype, 'getUser')).toBe(Promise);
  });

  test('per-method options, the list of cached methods and the class config are Reflect metadata', () => {
    const cache = redis.cache();
    const { UserService, AdminService } = fixtures.defineServices(cache);
    expect(Reflect.getMetadata(CACHED_METADATA_KEY, UserService.prototype, 'getProfile')).toMatchObject({ method: 'getProfile', options: { ttl: '5m' } });
    expect(Reflect.getOwnMetadata(CACHED_METHODS_METADATA_KEY, UserService.prototype)).toEqual(['getUser', 'getProfile', 'countUsers', 'search', 'greet', 'explode', 'echo', 'add']);
    expect(Reflect.getOwnMetadata(CACHED_METHODS_METADATA_KEY, AdminService.prototype)).toEqual(['audit']);
    // reflect-metadata walks the prototype chain, so tools see inherited cached methods too.
    expect(Reflect.getMetadata(CACHED_METADATA_KEY, AdminService.prototype, 'getUser')).toMatchObject({ method: 'getUser' });
    expect(Reflect.getMetadata(CONFIG_METADATA_KEY, UserService)).toEqual({ cache, namespace: 'users' });
  });
});
