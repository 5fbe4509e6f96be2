import { createHash } from 'node:crypto';
import { MAX_TAG_LENGTH } from '../src/tags/check';
import { escapeCustom, escapeLabel, escapeName } from './escape';

/*
 * The key a cached function hands to the core, which stores it as `<cache namespace>:{<key>}:v`:
 *
 *   [<namespace>/]<Class>.<method>[@<version>][#<instance>](<arguments>)    a decorated method
 *   [<namespace>/]<name>[@<version>](<arguments>)                           cached(fn)
 *   ...=<custom>                                                            with a key option
 *
 * Invariants:
 * - the head (everything before the first '(' '=' or '~') is made of escaped parts and fixed punctuation,
 *   so it parses back into namespace, name, version and instance: two functions never share a key, and
 *   nothing in the arguments or a custom key can change the head (a key cannot escape its namespace);
 * - no braces anywhere, so the whole key is the Redis Cluster hash tag;
 * - a key longer than MAX_KEY_LENGTH becomes its first READABLE_PREFIX characters, '~', and the SHA-256
 *   of the whole key (base64url, 43 characters): exactly HASHED_KEY_LENGTH characters (one fewer if the
 *   cut would split a surrogate pair), always longer than any unhashed key, so a hashed key never equals
 *   an unhashed one.
 */
/** The longest key a cached function hands the core as it is; a longer one is hashed (to HASHED_KEY_LENGTH characters). */
export const MAX_KEY_LENGTH = 200;
const READABLE_PREFIX = 160;
/** The length of a hashed key: its first 160 characters, '~', and the SHA-256 of the whole key (one fewer if the cut would split a surrogate pair). */
export const HASHED_KEY_LENGTH = READABLE_PREFIX + 1 + 43;

export interface KeyHead {
  /** From the options or @CacheConfig; groups keys under one prefix. */
  namespace?: string;
  /** The class of a decorated method; absent for cached(fn). */
  className?: string;
  /** The method or function name. */
  name: string;
  version?: string;
  /** The per-instance discriminator, when the method has one. */
  instance?: string;
}

export function formatHead(head: KeyHead): string {
  let out = head.namespace === undefined ? '' : escapeLabel(head.namespace) + '/';
  if (head.className !== undefined) out += escapeName(head.className) + '.';
  out += escapeName(head.name);
  if (head.version !== undefined) out += '@' + escapeLabel(head.version);
  if (head.instance !== undefined) out += formatInstance(head.instance);
  return out;
}

/** The instance part, appended to a head formatted without one. */
export function formatInstance(instance: string): string {
  return '#' + escapeLabel(instance);
}

/** `body` is encodeArgs()'s '(...)', or the custom key's raw text. */
export function formatKey(head: string, body: { args: string } | { custom: string }): string {
  const key = 'args' in body ? head + body.args : head + '=' + escapeCustom(body.custom);
  return fit(key);
}

function fit(key: string): string {
  if (key.length <= MAX_KEY_LENGTH) return key;
  let cut = READABLE_PREFIX;
  const last = key.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return key.slice(0, cut) + '~' + createHash('sha256').update(key, 'utf8').digest('base64url');
}

/**
 * The tag every entry of one cached function or method carries, for invalidateAll(): NUL (reserved for
 * herdless, so no user tag can equal it) and the head without its instance part, so the entries of every
 * instance and argument list share it. A head too long for a tag is replaced by '~' and its SHA-256 (base64url).
 */
export function headTag(head: string): string {
  const tag = '\0' + head;
  // '~' never appears in an escaped head, so a hashed tag never equals an unhashed one.
  return tag.length <= MAX_TAG_LENGTH ? tag : '\0~' + createHash('sha256').update(head, 'utf8').digest('base64url');
}
