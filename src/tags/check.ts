import { InvalidOptionError } from '../errors';

/** Most tags one entry may carry: each is judged at every hit and kept in its value. */
export const MAX_TAGS = 64;
/** Longest tag, in characters. */
export const MAX_TAG_LENGTH = 256;

// With the u flag a well-formed pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Surrogate}/u;
// String.prototype.isWellFormed (Node 20) is several times faster than the regular expression (Node 18).
const wellFormed: (tag: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (tag) => (tag as string & { isWellFormed(): boolean }).isWellFormed()
    : (tag) => !LONE_SURROGATE.test(tag);

/**
 * Checks the tags of a call, an eviction or an invalidation where they are passed, and returns the list
 * itself. A tag is a non-empty string of at most MAX_TAG_LENGTH characters that does not start with NUL
 * (reserved for the tags herdless gives itself: the epoch, a cached method's own tag) and has no lone
 * surrogate (Redis would store it as U+FFFD, and two tags would share one version).
 * `reserved`: the caller is herdless itself, which may use NUL-prefixed tags.
 */
export function checkTags(tags: unknown, option = 'tags', reserved = false): readonly string[] {
  // A frozen list checked once (a decorator's fixed tags) is not checked again at every call.
  if (userTags.has(tags as object) || (reserved && ownTags.has(tags as object))) return tags as readonly string[];
  const result = check(tags, option, reserved);
  if (result === tags && Object.isFrozen(tags)) (reserved ? ownTags : userTags).add(tags as object);
  return result;
}

/** Frozen lists found valid as users' tags, and as herdless' own (which may hold reserved tags). */
const userTags = new WeakSet<object>();
const ownTags = new WeakSet<object>();

function check(tags: unknown, option: string, reserved: boolean): readonly string[] {
  if (!Array.isArray(tags)) throw new InvalidOptionError(option, tags, "an array of tag strings, e.g. ['product:42', 'catalog']");
  if (tags.length > MAX_TAGS) throw new InvalidOptionError(option, `${tags.length} tags`, `at most ${MAX_TAGS} tags: each is judged at every hit; group entries under a broader tag instead`);
  for (let i = 0; i < tags.length; i++) {
    const tag: unknown = tags[i];
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      throw new InvalidOptionError(`${option}[${i}]`, tag, `a non-empty string of at most ${MAX_TAG_LENGTH} characters`);
    }
    if (!reserved && tag.charCodeAt(0) === 0) throw new InvalidOptionError(`${option}[${i}]`, tag, 'a tag that does not start with NUL (reserved for herdless\' own tags)');
    if (!wellFormed(tag)) throw new InvalidOptionError(`${option}[${i}]`, tag, 'a string without lone surrogates (Redis would store them as U+FFFD and two tags would collide)');
  }
  // A tag given twice is judged twice, which is harmless; not looking for one keeps a tagged hit cheaper.
  return tags as string[];
}
