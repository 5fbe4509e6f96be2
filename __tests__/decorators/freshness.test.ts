import { Cached, CacheConfig, cached, setDefaultCache } from '../../decorators';
import { InvalidOptionError } from '../../src';
import { useRedis } from './helpers';

// The freshness options reach the core from cached(), @Cached and @CacheConfig, and are checked where written.

const redis = useRedis();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A slow function whose result names its run, so an answer tells which run produced it. */
function slowRuns(ms: number) {
  let runs = 0;
  const fn = async (id: string) => {
    const run = ++runs;
    await sleep(ms);
    return `${id}#${run}`;
  };
  return { fn, runs: () => runs };
}

test('cached(fn, { ttl, grace }): past its ttl the old result is served at once while one refresh runs', async () => {
  const { fn, runs } = slowRuns(300);
  const load = cached(fn, { cache: redis.cache(), name: 'load', ttl: 1_000, grace: '10s', earlyRefresh: false });
  expect(await load('a')).toBe('a#1');
  await sleep(1_100); // stale now
  const answers = await Promise.all([load('a'), load('a'), load('a')]);
  expect(answers).toEqual(['a#1', 'a#1', 'a#1']);
  await sleep(500); // the refresh has finished, and its value is fresh
  expect(await load('a')).toBe('a#2');
  expect(runs()).toBe(2);
});

test('without grace the same call waits for the recomputation: the option is what changed it', async () => {
  const { fn } = slowRuns(300);
  const load = cached(fn, { cache: redis.cache(), name: 'load', ttl: 200, earlyRefresh: false });
  expect(await load('a')).toBe('a#1');
  await sleep(300);
  expect(await load('a')).toBe('a#2');
});

test('@Cached({ grace }) and @CacheConfig({ grace }) serve stale values; a method overrides its class', async () => {
  setDefaultCache(redis.cache());
  const { fn: slow } = slowRuns(300);

  @CacheConfig({ ttl: 200, grace: '10s', earlyRefresh: false })
  class Reports {
    @Cached()
    async daily(id: string): Promise<string> {
      return slow(id);
    }

    @Cached({ grace: false })
    async strict(id: string): Promise<string> {
      return slow(id);
    }
  }

  const reports = new Reports();
  const first = await reports.daily('d');
  const strictFirst = await reports.strict('s');
  await sleep(300);
  expect(await reports.daily('d')).toBe(first); // stale, served at once
  expect(await reports.strict('s')).not.toBe(strictFirst); // no grace: recomputed, waited for
});

test('bad freshness values are refused where they are written, naming the option', () => {
  const fn = async () => 1;
  const cases: [Record<string, unknown>, string][] = [
    [{ grace: 'soon' }, 'grace'],
    [{ earlyRefresh: -1 }, 'earlyRefresh'],
    [{ softTimeout: -5 }, 'softTimeout'],
    [{ hardTimeout: 0 }, 'hardTimeout'],
    [{ refreshBackoff: 'never' }, 'refreshBackoff'],
  ];
  for (const [options, option] of cases) {
    let thrown: unknown;
    try {
      cached(fn, { name: 'f', ...options });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).option).toBe(option);
    expect((thrown as Error).message).toContain(`cached(f): option '${option}'`);
    expect(() => CacheConfig(options)(class Some {}, { kind: 'class', name: 'Some' } as ClassDecoratorContext)).toThrow(InvalidOptionError);
  }
  expect(() => cached(fn, { name: 'f', forceFresh: true } as never)).toThrow(/unknown option 'forceFresh'/);
});

test('@Cached({ l1: false }) and cached(fn, { l1: false }): those calls bypass the memory tier of an l1 cache', async () => {
  const cache = redis.cache({ l1: true });
  setDefaultCache(cache);
  const tiers: string[] = [];
  cache.on('hit', (_key, tier) => tiers.push(tier));

  class Profiles {
    @Cached()
    async warm(id: string): Promise<string> {
      return `warm ${id}`;
    }

    @Cached({ l1: false })
    async cold(id: string): Promise<string> {
      return `cold ${id}`;
    }
  }
  const profiles = new Profiles();
  const plain = cached(async (id: string) => `plain ${id}`, { cache, name: 'plain', l1: false });
  const read = async (call: () => Promise<string>) => {
    tiers.length = 0;
    for (let i = 0; i < 20; i++) {
      await call();
      await sleep(10);
    }
    return new Set(tiers);
  };
  // The tier answers once its subscription is proven live (its first echo): within a few reads.
  expect(await read(() => profiles.warm('a'))).toContain('memory');
  expect(await read(() => profiles.cold('a'))).toEqual(new Set(['redis']));
  expect(await read(() => plain('a'))).toEqual(new Set(['redis']));
});
