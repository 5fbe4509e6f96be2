import { EPOCH } from './envelope';
import { InvalidOptionError } from './errors';

/**
 * Names of one cache key's family. The user's key is the hash tag, so the value, the lease, the channel
 * and the error keys of one key always live in one cluster slot, while different keys spread over slots.
 * The namespace may not contain braces (Redis would take the first {...} as the tag), so the tag always
 * starts at our brace; a brace inside the user's key can only end the tag early, identically for every
 * name of the family, which still keeps them together. A key may not start with '}', which would leave
 * the tag empty.
 */
export interface KeyFamily {
  readonly value: string;
  readonly lease: string;
  readonly channel: string;
  /** Exists while a failed refresh's backoff runs: no caller anywhere starts another refresh until it expires. */
  readonly backoff: string;
  /** Where the error that ended lease `token` is kept for that lease's waiters. */
  failure(token: string): string;
}

export class KeyLayout {
  private readonly prefix: string;
  /** The namespace's invalidation channel: every write publishes its key there, for the memory tiers. */
  readonly invalidations: string;

  private readonly tagPrefix: string;
  private readonly epoch: string;

  constructor(namespace: string) {
    this.prefix = `${namespace}:{`;
    this.invalidations = `${namespace}:invalidations`;
    this.tagPrefix = `${namespace}:tag:{`;
    this.epoch = `${namespace}:epoch`;
  }

  /**
   * Where a tag's version is kept: a key of its own, hashed on the tag, so tags spread over the slots of a
   * cluster. No value key can take this name (those start with the namespace and '{'). The epoch, the tag
   * every entry carries (clear()), is N:epoch.
   */
  tag(tag: string): string {
    return tag === EPOCH ? this.epoch : this.tagPrefix + tag + '}';
  }

  value(key: string): string {
    return this.prefix + key + '}:v';
  }

  family(key: string): KeyFamily {
    const base = this.prefix + key + '}';
    return {
      value: base + ':v',
      lease: base + ':lease',
      channel: base + ':ch',
      backoff: base + ':backoff',
      failure: (token) => base + ':err:' + token,
    };
  }
}

export function checkNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace.length === 0 || /[{}]/.test(namespace) || LONE_SURROGATE.test(namespace)) {
    throw new InvalidOptionError('namespace', namespace, "a non-empty string without '{' or '}' (braces would break the hash tag) and without lone surrogates");
  }
  return namespace;
}

// With the u flag a well-formed pair is one code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Surrogate}/u;
// String.prototype.isWellFormed (Node 20) is several times faster than the regular expression (Node 18).
const wellFormed: (key: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (key) => (key as string & { isWellFormed(): boolean }).isWellFormed()
    : (key) => !LONE_SURROGATE.test(key);

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidOptionError('key', key, 'a non-empty string');
  }
  // '{}' is no hash tag to Redis: each name of the family would hash on its own and scripts touching
  // them would fail in a cluster with CROSSSLOT.
  // node-redis sends keys as UTF-8, which turns every lone surrogate into U+FFFD: two different strings
  // would share one entry (and one lease) in Redis.
  if (!wellFormed(key)) {
    throw new InvalidOptionError('key', key, 'a string without lone surrogates (UTF-16 halves of a character, often left by truncating user input); Redis would store them as U+FFFD and two keys would collide');
  }
  if (key.charCodeAt(0) === 0x7d) {
    throw new InvalidOptionError('key', key, "a string that does not start with '}' (Redis Cluster would see an empty hash tag); prefix it, e.g. 'k:' + key");
  }
}
