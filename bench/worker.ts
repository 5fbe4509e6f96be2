import { sleep } from './lib/time';
import { strategy } from './strategies';
import type { CacheUnderTest, OpenOptions } from './strategies/strategy';
import { coherenceJudge, coherenceRead, coherenceSeed, coherenceWrite, type CoherenceJudgeRequest, type CoherenceKeys, type CoherenceReadRequest, type CoherenceWriteRequest } from './worker/coherence';
import { crashCall, crashLead, type CrashCallRequest, type CrashRun } from './worker/crash';
import { expiry, type ExpiryRequest } from './worker/expiry';
import { herd, type HerdRequest } from './worker/herd';
import { hits, type HitsRequest } from './worker/hits';
import { instrumentationHits, type InstrumentationHitsRequest } from './worker/instrumentation';
import { memory, memoryL1, type MemoryL1Request, type MemoryRequest } from './worker/memory';
import { cacheMiss, miss, minimumMiss, type MissRequest } from './worker/miss';
import {
  tagsCheck,
  tagsFill,
  tagsHits,
  tagsInvalidate,
  tagsPass,
  tagsRereadPrepare,
  tagsRereadRun,
  type TagsCheckRequest,
  type TagsFillRequest,
  type TagsHitsRequest,
  type TagsInvalidateRequest,
  type TagsPassRequest,
  type TagsRereadPrepareRequest,
  type TagsRereadRunRequest,
} from './worker/tags';

/*
 * A benchmark worker process: answers one request at a time from the parent (bench/lib/fleet.ts) and
 * leaves when the parent does, so it can never outlive a run.
 */
let cache: CacheUnderTest | undefined;

type Message = { id: number; type: string } & Record<string, unknown>;

const handlers: Record<string, (message: Message) => Promise<unknown>> = {
  ready: async () => process.pid,
  async open(message) {
    await cache?.close();
    // A strategy that fails to open leaves no cache behind for 'close' to close twice.
    cache = undefined;
    const chosen = strategy(message.strategy as string);
    cache = await chosen.open(message.options as OpenOptions);
    // Connections, scripts and code paths are warm before anything is measured, as in a process that has
    // served a while: a miss this cache leads, then one another instance leads while this one waits.
    await cache.getOrSet(`warm:${process.pid}`, async () => 'warm');
    const other = await chosen.open(message.options as OpenOptions);
    try {
      const led = other.getOrSet(`warm-wait:${process.pid}`, () => sleep(100).then(() => 'warm'));
      await sleep(20);
      await Promise.all([led, cache.getOrSet(`warm-wait:${process.pid}`, async () => 'warm')]);
    } finally {
      await other.close();
    }
    return null;
  },
  herd: (message) => herd(opened(), message as unknown as HerdRequest),
  expiry: (message) => expiry(opened(), message as unknown as ExpiryRequest),
  hits: (message) => hits(opened(), message as unknown as HitsRequest),
  'crash-lead': (message) => crashLead(opened(), message as unknown as CrashRun),
  'crash-call': (message) => crashCall(opened(), message as unknown as CrashCallRequest),
  'coherence-seed': (message) => coherenceSeed(opened(), message as unknown as CoherenceKeys),
  'coherence-read': (message) => coherenceRead(opened(), message as unknown as CoherenceReadRequest),
  'coherence-write': (message) => coherenceWrite(opened(), message as unknown as CoherenceWriteRequest),
  'coherence-judge': async (message) => coherenceJudge(message as unknown as CoherenceJudgeRequest),
  async miss(message) {
    const minimum = await minimumMiss((message as unknown as MissRequest).url);
    try {
      return await miss(cacheMiss(opened()), minimum.miss, message as unknown as MissRequest);
    } finally {
      await minimum.close();
    }
  },
  memory: (message) => memory(message as unknown as MemoryRequest),
  'memory-l1': (message) => memoryL1(message as unknown as MemoryL1Request),
  'tags-hits': (message) => tagsHits(opened(), message as unknown as TagsHitsRequest),
  'tags-pass': (message) => tagsPass(opened(), message as unknown as TagsPassRequest),
  'tags-fill': (message) => tagsFill(opened(), message as unknown as TagsFillRequest),
  'tags-invalidate': (message) => tagsInvalidate(opened(), message as unknown as TagsInvalidateRequest),
  'tags-check': (message) => tagsCheck(opened(), message as unknown as TagsCheckRequest),
  'tags-reread-prepare': (message) => tagsRereadPrepare(opened(), message as unknown as TagsRereadPrepareRequest),
  'tags-reread-run': (message) => tagsRereadRun(opened(), message as unknown as TagsRereadRunRequest),
  'instrumentation-hits': (message) => instrumentationHits(opened(), message as unknown as InstrumentationHitsRequest),
  async close() {
    await cache?.close();
    cache = undefined;
    return null;
  },
};

function opened(): CacheUnderTest {
  if (!cache) throw new Error('no cache is open in this worker');
  return cache;
}

process.on('message', (message: Message) => {
  const handler = handlers[message.type];
  const reply = handler ? handler(message) : Promise.reject(new Error(`unknown request '${message.type}'`));
  // A parent that has gone cannot be answered; the 'disconnect' handler below ends this process.
  const answer = (reply: object) => process.connected && process.send?.(reply, undefined, undefined, () => undefined);
  reply.then(
    (result) => answer({ id: message.id, ok: true, result }),
    (error) => answer({ id: message.id, ok: false, error: String(error?.stack ?? error) }),
  );
});

// The parent went away (finished, interrupted or crashed): nothing here is worth keeping.
process.on('disconnect', () => process.exit(0));
