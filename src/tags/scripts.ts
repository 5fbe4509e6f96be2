import { PUBLISHES, script } from '../store/script';

/*
 * A tag's version lives at its own key, N:tag:{<tag>} (the epoch, N:epoch), so every tag sits in a slot of
 * its own and each script below touches one key. A version is an opaque token, compared for equality
 * only: no clock is read and nothing is ordered. Tag keys never expire. One evicted under maxmemory comes
 * back with a new version: entries stamped with the old one are judged invalid and recomputed, never
 * served as valid again, which a counter starting over from 0 could not promise.
 */

/**
 * The current version of a tag, made on first use: an entry is never stamped with "no version", which
 * a later eviction of the key could bring back.
 * KEYS: tag key   ARGV: a new version, used if there is none   Reply: the version
 */
export const readVersion = script(
  'tag-version',
  `
local version = redis.call('GET', KEYS[1])
if version then return version end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`,
);

/**
 * Invalidate a tag: give it a new version and tell every process, from the same script, so the new
 * version never lands without its message. One write and one message, however many entries carry it.
 * KEYS: tag key   ARGV: the new version, the invalidation channel, the message   Reply: 1
 */
export const bumpVersion = script(
  'tag-invalidate',
  PUBLISHES +
    `
redis.call('SET', KEYS[1], ARGV[1])
publish('PUBLISH', ARGV[2], ARGV[3])
return reply(1)
`,
);
