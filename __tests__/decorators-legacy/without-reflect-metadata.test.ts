import { getCachedMethods } from '../../decorators';
import { useRedis } from '../decorators/helpers';
import * as fixtures from './fixtures';

// No 'reflect-metadata' here: legacy decorators must work without it (herdless never loads it).
const redis = useRedis();

test('legacy decorators work without reflect-metadata, keeping their metadata aside', async () => {
  expect((Reflect as unknown as { getMetadata?: unknown }).getMetadata).toBeUndefined();
  const { UserService, AdminService, runs } = fixtures.defineServices(redis.cache());
  const service = new UserService();
  expect(await Promise.all([service.getUser('1'), service.getUser('1')])).toEqual([{ id: '1', name: 'Ada' }, { id: '1', name: 'Ada' }]);
  await service.updateUser('1', { name: 'Ada Lovelace' });
  expect(await service.getUser('1')).toEqual({ id: '1', name: 'Ada Lovelace' });
  expect(runs.of('getUser')).toBe(2);
  expect(getCachedMethods(AdminService).map((m) => m.method)).toEqual(['audit', 'getUser', 'getProfile', 'countUsers', 'search', 'greet', 'explode', 'echo', 'add']);
});
