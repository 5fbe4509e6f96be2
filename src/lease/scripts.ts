import { PUBLISHES, script, type Script } from '../store/script';

type Publish = 'PUBLISH' | 'SPUBLISH';

const PUSH_LIMIT = 64 * 1024;

/** Lua: is the lease value `held` token's (the token alone, or followed by a space and its connection id)? */
const OURS = `
local function ours(held, token)
  return held == token or (held ~= false and string.sub(held, 1, #token + 1) == token .. ' ')
end
`;

/*
 * The lease protocol, one script per step. Every key a script touches arrives in KEYS and all of them carry
 * the same hash tag ({key}), so each script touches a single cluster slot.
 *
 * Key family of cache key K in namespace N:
 *   N:{K}:v          the envelope (value)
 *   N:{K}:lease      the lease: the token of the one caller computing K, then a space and the id of the
 *                    connection it holds the lease from (when known), with a TTL (renewed while it runs)
 *   N:{K}:ch         the wake-up channel, published when the lease ends
 *   N:{K}:err:<tok>  the error that ended lease <tok>, kept briefly for waiters that missed the wake-up
 *
 * Holder: a dead process's connections close at once, and Redis knows it. A waiter that finds the holder's
 * connection gone (CLIENT LIST ID) seizes the lease, if it still reads exactly as the waiter saw it, instead
 * of waiting out its TTL. A holder whose connection only reconnected has a new id, which its next renewal
 * writes; seized before that, it keeps computing and is fenced.
 *
 * Fence: a value is written only by the caller whose token the lease still holds. A lease that expired,
 * was taken over, or was voided by delete()/set() cannot write, so an older computation never replaces a
 * newer value or an invalidation.
 *
 * A wake-up after a commit carries the envelope ('v' + token + '\n' + envelope) when it is at most PUSH_LIMIT
 * bytes, so a woken waiter needs no round trip to read it; larger values are left for waiters to read (a
 * big message to every subscriber could trip Redis' pub/sub output buffer limits). The committing token
 * lets a waiter take the value only from the lease its latest re-check saw: a wake-up is an ordered stream
 * per key, and a value from an older lease (committed, then deleted) is superseded by what the re-check read.
 * Every other write (set, delete, fail, release) sends a wake-up without a value: waiters re-check.
 *
 * Wake-ups go out with PUBLISH, or SPUBLISH in a cluster (the message then stays in the slot's shard). They
 * are sent with pcall: a server without sharded pub/sub still writes, and waiters fall back to polling.
 * A publish the ACL refuses is handed back with the reply (store/script.ts, PUBLISHES), and the store
 * reports it on 'error': the write landed, but the waiters it should have woken wait out the lease TTL.
 * Every write (commit, overwrite, invalidate) also publishes its key on the namespace's invalidation
 * channel with classic PUBLISH, which a cluster forwards to every node: each process's memory tier
 * subscribes to it once (tier/memory.ts).
 */

/**
 * Re-check the value, then take the lease if nobody holds it. Used for the first miss, for every re-check
 * of a waiter (KEYS[3] is then the error key of the lease it waits on), and to start a refresh. An error
 * key of the empty token (`...:err:`, the first acquire's: it follows no lease) is never read: keys.ts
 * names error keys `<family>:err:<token>`, and a name ending in ':err:' names no token herdless makes.
 * A value the caller cannot use — bytes it could not read, or a value it found stale — counts as missing
 * while it is still that value (ARGV[5], ARGV[6]: its length and first bytes, which hold its timestamps):
 * the caller leads, and its fenced commit replaces it. So an unreadable value is repaired once, under the
 * lease, and a stale one is refreshed once, instead of by every caller until it expires.
 * A refresh (ARGV[3] = 'r': the caller has a stale or soon-stale value to serve meanwhile) does not start
 * while a failed refresh's backoff runs (KEYS[4]); a miss, with nothing to serve, always may.
 * KEYS: value, lease, error, backoff   ARGV: token, lease ttl ms, 'r' | 'm', connection id ('' unknown) [, unusable length, unusable head]
 * Reply: {'v', envelope} | {'e', error} | {'l'} (you lead) | {'w', holder token [space connection id], lease pttl} | {'b', backoff pttl}
 */
const acquire = script(
  'acquire',
  `
local value = redis.call('GET', KEYS[1])
if value and not (ARGV[5] and #value == tonumber(ARGV[5]) and string.sub(value, 1, #ARGV[6]) == ARGV[6]) then
  return {'v', value}
end
-- The first acquire of a miss or a refresh follows no lease: its error key names the empty token, which
-- herdless never writes. Bytes something else left there must not answer the call, so it is not read.
local failure = string.sub(KEYS[3], -5) ~= ':err:' and redis.call('GET', KEYS[3])
if failure then return {'e', failure} end
if ARGV[3] == 'r' then
  local backoff = redis.call('PTTL', KEYS[4])
  if backoff > 0 then return {'b', backoff} end
end
local lease = ARGV[1]
if ARGV[4] ~= '' then lease = lease .. ' ' .. ARGV[4] end
if redis.call('SET', KEYS[2], lease, 'NX', 'PX', ARGV[2]) then return {'l'} end
return {'w', redis.call('GET', KEYS[2]), redis.call('PTTL', KEYS[2])}
`,
);

/**
 * Extend the lease while its holder still computes, with the id of the connection it renews from now.
 * KEYS: lease   ARGV: token, lease ttl ms, connection id ('' unknown)   Reply: 1 renewed, 0 lost
 */
const renew = script(
  'renew',
  OURS +
    `
if not ours(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
local lease = ARGV[1]
if ARGV[3] ~= '' then lease = lease .. ' ' .. ARGV[3] end
redis.call('SET', KEYS[1], lease, 'PX', ARGV[2])
return 1
`,
);

/**
 * A waiter found the holder's connection gone: the lease is dropped, if it still reads exactly as the
 * waiter saw it (a renewal from a new connection, or a new holder, changes it), and its waiters woken.
 * KEYS: lease, channel   ARGV: the lease value the waiter saw, the holder's token   Reply: 1 seized, 0 not
 */
const seize = (publish: Publish) => script(
  'seize',
  PUBLISHES +
    `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
publish('${publish}', KEYS[2], ARGV[2])
return reply(1)
`,
);

/**
 * Fenced write-and-release: store the envelope and end the lease, only if the lease is still ours. A value
 * that could be computed ends a refresh backoff.
 * The same script tells every process's memory tier (ARGV[4], the namespace's invalidation channel, with
 * the key in ARGV[5]), so a write never lands without its invalidation.
 * KEYS: value, lease, channel, backoff   ARGV: token, envelope, ms Redis keeps it (ttl + grace), invalidation channel, key
 * Reply: 1 written, 0 fenced
 */
const commit = (publish: Publish) => script(
  'commit',
  OURS +
    PUBLISHES +
    `
if not ours(redis.call('GET', KEYS[2]), ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[4])
publish('PUBLISH', ARGV[4], ARGV[5])
if #ARGV[2] <= ${PUSH_LIMIT} then
  publish('${publish}', KEYS[3], 'v' .. ARGV[1] .. '\\n' .. ARGV[2])
else
  publish('${publish}', KEYS[3], ARGV[1])
end
return reply(1)
`,
);

/**
 * The factory failed: end the lease at once and leave the error where this lease's waiters look for it.
 * New callers never read it (they start fresh), because its key names the failed token. A failed refresh
 * (ARGV[4] > 0) starts the backoff: no caller anywhere starts another refresh of the key before it ends.
 * KEYS: lease, error, channel, backoff   ARGV: token, error payload, error ttl ms, backoff ms (0: none)
 * Reply: 1 | 0 (lease was not ours)
 */
const fail = (publish: Publish) => script(
  'fail',
  OURS +
    PUBLISHES +
    `
if not ours(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[4], '1', 'PX', ARGV[4]) end
publish('${publish}', KEYS[3], ARGV[1])
return reply(1)
`,
);

/**
 * Give a lease back without a value (its holder answered without the cache); a waiter then takes over.
 * KEYS: lease, channel   ARGV: token   Reply: 1 | 0
 */
const release = (publish: Publish) => script(
  'release',
  OURS +
    PUBLISHES +
    `
if not ours(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
publish('${publish}', KEYS[2], ARGV[1])
return reply(1)
`,
);

/**
 * A direct write: store the envelope and void any lease in flight, whose older result must not replace it;
 * a refresh backoff ends with it.
 * KEYS: value, lease, channel, backoff   ARGV: envelope, ms Redis keeps it (ttl + grace), invalidation channel, key
 */
const overwrite = (publish: Publish) => script(
  'overwrite',
  PUBLISHES +
    `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[4])
publish('PUBLISH', ARGV[3], ARGV[4])
publish('${publish}', KEYS[3], '')
return reply(1)
`,
);

/**
 * Invalidate: drop the value and void any lease in flight (it computed from data older than this delete);
 * waiters wake and one of them computes afresh. A stale value goes with it: nothing is served after this.
 * KEYS: value, lease, channel, backoff   ARGV: invalidation channel, key   Reply: 1 if a value was removed, else 0
 */
const invalidate = (publish: Publish) => script(
  'invalidate',
  PUBLISHES +
    `
local removed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[4])
publish('PUBLISH', ARGV[1], ARGV[2])
publish('${publish}', KEYS[3], '')
return reply(removed)
`,
);

export interface LeaseScripts {
  acquire: Script;
  renew: Script;
  commit: Script;
  fail: Script;
  release: Script;
  overwrite: Script;
  invalidate: Script;
  seize: Script;
}

export function leaseScripts(publish: Publish): LeaseScripts {
  return { acquire, renew, commit: commit(publish), fail: fail(publish), release: release(publish), overwrite: overwrite(publish), invalidate: invalidate(publish), seize: seize(publish) };
}
