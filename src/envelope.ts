import type { Codec, ReadAt } from './codec/codec';
import { jsonCodec, readJsonAt } from './codec/json';
import { readV8At, v8Codec } from './codec/v8';

/**
 * What is stored at a value key. A fixed little-endian header, then the codec's bytes:
 *
 *   0  2  magic 'hl'
 *   2  1  format version (3)
 *   3  1  n = length of the codec name
 *   4  n  codec name (ASCII)
 *   +0 8  writtenAt  float64, ms since the epoch
 *   +8 8  expiresAt  float64, ms since the epoch: the value's logical expiry
 *   +16 8 delta      float64, ms the function took to compute it
 *   +24 4 k          uint32, FNV-1a of the Redis key the value was written for, '<namespace>:{<key>}:v' (UTF-8)
 *   +28 2 c          uint16, the number of tags in the stamp (1 or more: the epoch comes first)
 *   +30 4 h          uint32, FNV-1a of the pairs' bytes: where a reader finds the stamp decoded before
 *   +34 4 L          uint32, the length of the pairs' bytes
 *   +38 L pairs      c times: uint16 length + the tag (UTF-8), uint8 length + its version (ASCII)
 *   then             the codec's bytes
 *
 * expiresAt and delta are what stale-while-revalidate and probabilistic early refresh need, so those can
 * come without a format change: the Redis TTL may then outlive the logical expiry. The stamp is what
 * tags need (tags/versions.ts): the version of every tag the value was computed under, taken before its
 * function ran; a reader judges the value against the versions current now.
 *
 * The key's hash is what makes a reply handed to the wrong command harmless: a connection whose replies
 * are misaligned (node-redis 4 after a connection cut inside a reply: store/renewal.ts) can give a
 * GET another key's value, and a reader refuses bytes written for another key (OTHER_KEY).
 */
export interface Envelope {
  value: unknown;
  writtenAt: number;
  expiresAt: number;
  delta: number;
  stamp: Stamp;
}

/** The tags a value was computed under and their versions then; tags[0] is always the namespace's epoch (EPOCH). */
export interface Stamp {
  readonly tags: readonly string[];
  readonly versions: readonly string[];
  /** The versions' generation (tags/versions.ts) in which this stamp was last judged valid. */
  judged?: number;
}

/** The tag every entry carries: clear() gives it a new version. Users' tags cannot start with NUL. */
export const EPOCH = '\0';

const MAGIC_0 = 0x68; // 'h'
const MAGIC_1 = 0x6c; // 'l'
// Version 1 (before tags) had no stamp, version 2 no key hash: such a value reads as missing, and is
// recomputed once under the lease.
const VERSION = 3;
const TIMES = 24;
/** The key's hash, after the times: the identity below still starts with the times, where values differ. */
const KEY_HASH = 4;

/** What decode() returns for a well-formed envelope written for another key than the one asked for. */
export const OTHER_KEY: unique symbol = Symbol('other key');

/**
 * How many leading bytes, with its length, tell one stored value from any other: the header and its
 * timestamps (writtenAt, and delta to the microsecond), and then some. The acquire script and the
 * refresh gate both name a value this way, without carrying all of it. (The key's hash after the
 * timestamps is the same for every value of one key: it tells nothing apart, and moved nothing before it.)
 */
export const IDENTITY_BYTES = 64;

export class EnvelopeFormat {
  private readonly header: Buffer;
  private readonly readAt: ReadAt;

  /** The hash of '<namespace>:{', where every value key of the namespace starts. */
  private readonly keySeed: number;

  /** `namespace`: the cache's; a value is checked against the full Redis key it was written for, so two namespaces sharing a client cannot swap values. */
  constructor(private readonly codec: Codec, namespace = '') {
    const prefix = Buffer.from(`${namespace}:{`, 'utf8');
    this.keySeed = fnv(prefix, 0, prefix.length);
    const name = Buffer.from(codec.name, 'ascii');
    if (name.length === 0 || name.length > 255) throw new RangeError('codec name must be 1 to 255 ASCII characters');
    this.header = Buffer.concat([Buffer.from([MAGIC_0, MAGIC_1, VERSION, name.length]), name]);
    this.readAt = readerOf(codec);
  }

  /** `key`: the cache key the value is stored for (its hash is written). Throws whatever the codec throws for a value it cannot encode. */
  encode(value: unknown, key: string, writtenAt: number, ttlMs: number, delta: number, stamp: Stamp): Buffer {
    const body = this.codec.encode(value);
    const { tags, versions } = stamp;
    let pairs = 0;
    for (let i = 0; i < tags.length; i++) pairs += 3 + Buffer.byteLength(tags[i]) + versions[i].length;
    const out = Buffer.allocUnsafe(this.header.length + TIMES + KEY_HASH + STAMP_HEAD + pairs + body.length);
    this.header.copy(out, 0);
    let at = this.header.length;
    at = out.writeDoubleLE(writtenAt, at);
    at = out.writeDoubleLE(writtenAt + ttlMs, at);
    at = out.writeDoubleLE(delta, at);
    at = out.writeUInt32LE(keyHash(key, this.keySeed), at);
    const head = at;
    at += STAMP_HEAD;
    for (let i = 0; i < tags.length; i++) {
      const length = out.write(tags[i], at + 2, 'utf8');
      out.writeUInt16LE(length, at);
      at += 2 + length;
      at = out.writeUInt8(versions[i].length, at);
      at += out.write(versions[i], at, 'latin1');
    }
    out.writeUInt16LE(tags.length, head);
    out.writeUInt32LE(fnv(out, head + STAMP_HEAD, at), head + 2);
    out.writeUInt32LE(pairs, head + 6);
    body.copy(out, at);
    return out;
  }

  // Decoding a stamp's strings costs more than the rest of the header (5 tags: about half as much as a
  // small value). Values of one namespace share few stamps (every untagged one has the same), so each is
  // decoded once and found again by the hash its writer stored, then checked against its bytes: a hit
  // allocates nothing for its stamp. A wrong hash only costs a decode.
  private readonly stamps = new Map<number, Known>();

  /** The stamp of the pairs at [start, end), `count` of them, hashed `hash`; undefined if malformed. */
  private stampOf(bytes: Buffer, start: number, end: number, count: number, hash: number): Stamp | undefined {
    const length = end - start;
    for (let known = this.stamps.get(hash); known !== undefined; known = known.next) {
      if (known.raw.length === length && same(known.raw, bytes, start, end)) return known.stamp;
    }
    const stamp = decodeStamp(bytes, start, end, count);
    if (stamp === undefined) return undefined;
    if (this.stamps.size >= REMEMBERED_STAMPS) this.stamps.clear();
    const next = this.stamps.get(hash);
    // A chain only grows with stamps of one hash; a long one is a hash that does not spread (or a forged one).
    this.stamps.set(hash, { raw: Buffer.from(bytes.subarray(start, end)), stamp, next: next && next.depth < 8 ? next : undefined, depth: (next?.depth ?? 0) + 1 });
    return stamp;
  }

  /**
   * Returns undefined for bytes this cache did not write (another format version, another codec), and
   * OTHER_KEY for an envelope written for another key than `key`. Without `key` (tools, tests), any key's.
   */
  decode(bytes: Buffer): Envelope | undefined;
  decode(bytes: Buffer, key: string): Envelope | typeof OTHER_KEY | undefined;
  decode(bytes: Buffer, key?: string): Envelope | typeof OTHER_KEY | undefined {
    const header = this.header;
    const start = header.length;
    if (bytes.length < start + TIMES + KEY_HASH) return undefined;
    // A few bytes compared here cost less than Buffer.compare's call into C++ (this runs on every hit).
    for (let i = 0; i < start; i++) if (bytes[i] !== header[i]) return undefined;
    const head = start + TIMES + KEY_HASH;
    if (bytes.length < head + STAMP_HEAD) return undefined;
    const end = head + STAMP_HEAD + bytes.readUInt32LE(head + 6);
    if (end > bytes.length) return undefined;
    const stamp = this.stampOf(bytes, head + STAMP_HEAD, end, bytes.readUInt16LE(head), bytes.readUInt32LE(head + 2));
    if (stamp === undefined) return undefined;
    // Checked once the envelope is known to be well-formed: a mismatch then means another key's value.
    if (key !== undefined && bytes.readUInt32LE(start + TIMES) !== keyHash(key, this.keySeed)) return OTHER_KEY;
    return {
      writtenAt: bytes.readDoubleLE(start),
      expiresAt: bytes.readDoubleLE(start + 8),
      delta: bytes.readDoubleLE(start + 16),
      stamp,
      value: this.readAt(bytes, end),
    };
  }
}

/** A stamp decoded before: its pairs' bytes, and the next one of the same hash. */
interface Known {
  readonly raw: Buffer;
  readonly stamp: Stamp;
  readonly next: Known | undefined;
  readonly depth: number;
}

/** The stamp's head: count, hash, length. */
const STAMP_HEAD = 10;

/** `raw` equals bytes[start, end) (same length). A short stamp (every untagged value's) is compared here: cheaper than a call into C++. */
function same(raw: Buffer, bytes: Buffer, start: number, end: number): boolean {
  if (raw.length > 64) return bytes.compare(raw, 0, raw.length, start, end) === 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] !== bytes[start + i]) return false;
  return true;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnv(bytes: Buffer, start: number, end: number, seed = FNV_OFFSET): number {
  let hash = seed;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], FNV_PRIME);
  return hash >>> 0;
}

/**
 * FNV-1a (32 bits) of the Redis key a value of `key` is stored at, '<namespace>:{<key>}:v' (UTF-8), as
 * stored in an envelope; `seed` is the hash of '<namespace>:{' (a format's keySeed). An ASCII key (the
 * usual one) is hashed from its characters, without building the key or encoding it: this runs on every read.
 */
export function keyHash(key: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) {
      const bytes = Buffer.from(key, 'utf8');
      hash = fnv(bytes, 0, bytes.length, seed);
      break;
    }
    hash = Math.imul(hash ^ c, FNV_PRIME);
  }
  // '}:v'
  hash = Math.imul(hash ^ 0x7d, FNV_PRIME);
  hash = Math.imul(hash ^ 0x3a, FNV_PRIME);
  return Math.imul(hash ^ 0x76, FNV_PRIME) >>> 0;
}

/** Stamps whose decoding is remembered, by their bytes; past this, all are forgotten at once. */
const REMEMBERED_STAMPS = 10_000;

function decodeStamp(bytes: Buffer, start: number, end: number, count: number): Stamp | undefined {
  if (count === 0) return undefined;
  const tags: string[] = new Array(count);
  const versions: string[] = new Array(count);
  let at = start;
  for (let i = 0; i < count; i++) {
    if (at + 2 > end) return undefined;
    const length = bytes.readUInt16LE(at);
    at += 2;
    if (at + length + 1 > end) return undefined;
    tags[i] = length === 1 && bytes[at] === 0 ? EPOCH : bytes.toString('utf8', at, at + length);
    at += length;
    const size = bytes[at++];
    if (at + size > end) return undefined;
    versions[i] = bytes.toString('latin1', at, at + size);
    at += size;
  }
  if (at !== end || tags[0] !== EPOCH) return undefined;
  return { tags: Object.freeze(tags), versions: Object.freeze(versions), judged: -1 };
}

/** The built-in codecs read their bytes in place; any other codec is given a view of just its bytes. */
function readerOf(codec: Codec): ReadAt {
  if (codec === v8Codec) return readV8At;
  if (codec === jsonCodec) return readJsonAt;
  return (bytes, start) => codec.decode(bytes.subarray(start));
}
