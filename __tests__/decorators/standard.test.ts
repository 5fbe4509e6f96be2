import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decoratorContract } from './contract';
import * as fixtures from './fixtures';
import { useRedis } from './helpers';

const redis = useRedis();
decoratorContract('standard', fixtures, redis);

describe('standard decorators', () => {
  test('the fixtures really are compiled as TC39 decorators, with context.metadata', () => {
    const { UserService } = fixtures.defineServices(redis.cache());
    const metadata = (UserService as unknown as Record<symbol, unknown>)[(Symbol as unknown as { metadata: symbol }).metadata];
    expect(typeof metadata).toBe('object');
  });

  test('the legacy fixtures are the same source, so both modes are held to the same contract', () => {
    const read = (folder: string) => readFileSync(join(__dirname, '..', folder, 'fixtures.ts'), 'utf8');
    expect(read('decorators-legacy')).toBe(read('decorators'));
  });
});
