import type { Codec, ReadAt } from './codec/codec';
import { jsonCodec, readJsonAt } from './codec/json';
import { readV8At, v8Codec } from './codec/v8';

/**
 * What is stored at a value key. A fixed little-endian header, then the codec's bytes:
 *
 *   0  2  magic 'hl'
 *   2  1  format version (1)
 *   3  1  n = length of the codec name
 *   4  n  codec name (ASCII)
 *   +0 8  writtenAt  float64, ms since the epoch
 *   +8 8  expiresAt  float64, ms since the epoch: the value's logical expiry
 *   +16 8 delta      float64, ms the function took to compute it
 *   +24 2 c          uint16, the number of tags in the stamp (1 or more: the epoch comes first)
 *   then c times:    uint16 length + the tag (UTF-8), uint8 length + its version (ASCII)
 *   then             the codec's bytes
 *
 * expiresAt and delta are what stale-while-revalidate and probabilistic early refresh need, so those can
 * come without a format change: the Redis TTL may then outlive the logical expiry. The stamp is what
 * tags need (tags/versions.ts): the version of every tag the value was computed under, taken before its
 * function ran; a reader judges the value against the versions current now.
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
}

/** The tag every entry carries: clear() gives it a new version. Users' tags cannot start with NUL. */
export const EPOCH = '\0';

const MAGIC_0 = 0x68; // 'h'
const MAGIC_1 = 0x6c; // 'l'
// Version 1 (before tags) had no stamp: such a value reads as missing, and is recomputed once under the lease.
const VERSION = 2;
const TIMES = 24;

/**
 * How many leading bytes, with its length, tell one stored value from any other: the header and its
 * timestamps (writtenAt, and delta to the microsecond), and then some. The acquire script and the
 * refresh gate both name a value this way, without carrying all of it.
 */
export const IDENTITY_BYTES = 64;

export class EnvelopeFormat {
  private readonly header: Buffer;
  private readonly readAt: ReadAt;

  constructor(private readonly codec: Codec) {
    const name = Buffer.from(codec.name, 'ascii');
    if (name.length === 0 || name.length > 255) throw new RangeError('codec name must be 1 to 255 ASCII characters');
    this.header = Buffer.concat([Buffer.from([MAGIC_0, MAGIC_1, VERSION, name.length]), name]);
    this.readAt = readerOf(codec);
  }

  /** Throws whatever the codec throws for a value it cannot encode. */
  encode(value: unknown, writtenAt: number, ttlMs: number, delta: number, stamp: Stamp): Buffer {
    const body = this.codec.encode(value);
    const { tags, versions } = stamp;
    let stampBytes = 2;
    for (let i = 0; i < tags.length; i++) stampBytes += 3 + Buffer.byteLength(tags[i]) + versions[i].length;
    const out = Buffer.allocUnsafe(this.header.length + TIMES + stampBytes + body.length);
    this.header.copy(out, 0);
    let at = this.header.length;
    at = out.writeDoubleLE(writtenAt, at);
    at = out.writeDoubleLE(writtenAt + ttlMs, at);
    at = out.writeDoubleLE(delta, at);
    at = out.writeUInt16LE(tags.length, at);
    for (let i = 0; i < tags.length; i++) {
      const length = out.write(tags[i], at + 2, 'utf8');
      out.writeUInt16LE(length, at);
      at += 2 + length;
      at = out.writeUInt8(versions[i].length, at);
      at += out.write(versions[i], at, 'latin1');
    }
    body.copy(out, at);
    return out;
  }

  /** Returns undefined for bytes this cache did not write (another format version, another codec). */
  decode(bytes: Buffer): Envelope | undefined {
    const header = this.header;
    const start = header.length;
    if (bytes.length < start + TIMES) return undefined;
    // A few bytes compared here cost less than Buffer.compare's call into C++ (this runs on every hit).
    for (let i = 0; i < start; i++) if (bytes[i] !== header[i]) return undefined;
    const count = bytes.length < start + TIMES + 2 ? 0 : bytes.readUInt16LE(start + TIMES);
    if (count === 0) return undefined;
    const tags: string[] = new Array(count);
    const versions: string[] = new Array(count);
    let at = start + TIMES + 2;
    for (let i = 0; i < count; i++) {
      if (at + 2 > bytes.length) return undefined;
      const length = bytes.readUInt16LE(at);
      at += 2;
      // The epoch, which every value carries, costs no string.
      tags[i] = length === 1 && bytes[at] === 0 ? EPOCH : bytes.toString('utf8', at, at + length);
      at += length;
      if (at + 1 > bytes.length) return undefined;
      const size = bytes[at++];
      if (at + size > bytes.length) return undefined;
      versions[i] = bytes.toString('latin1', at, at + size);
      at += size;
    }
    return {
      writtenAt: bytes.readDoubleLE(start),
      expiresAt: bytes.readDoubleLE(start + 8),
      delta: bytes.readDoubleLE(start + 16),
      stamp: { tags, versions },
      value: this.readAt(bytes, at),
    };
  }
}

/** The built-in codecs read their bytes in place; any other codec is given a view of just its bytes. */
function readerOf(codec: Codec): ReadAt {
  if (codec === v8Codec) return readV8At;
  if (codec === jsonCodec) return readJsonAt;
  return (bytes, start) => codec.decode(bytes.subarray(start));
}
