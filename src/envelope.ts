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
 *   +24   the codec's bytes
 *
 * expiresAt and delta are what stale-while-revalidate and probabilistic early refresh need, so those can
 * come without a format change: the Redis TTL may then outlive the logical expiry.
 */
export interface Envelope {
  value: unknown;
  writtenAt: number;
  expiresAt: number;
  delta: number;
}

const MAGIC_0 = 0x68; // 'h'
const MAGIC_1 = 0x6c; // 'l'
const VERSION = 1;
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
  encode(value: unknown, writtenAt: number, ttlMs: number, delta: number): Buffer {
    const body = this.codec.encode(value);
    const out = Buffer.allocUnsafe(this.header.length + TIMES + body.length);
    this.header.copy(out, 0);
    let at = this.header.length;
    at = out.writeDoubleLE(writtenAt, at);
    at = out.writeDoubleLE(writtenAt + ttlMs, at);
    at = out.writeDoubleLE(delta, at);
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
    return {
      writtenAt: bytes.readDoubleLE(start),
      expiresAt: bytes.readDoubleLE(start + 8),
      delta: bytes.readDoubleLE(start + 16),
      value: this.readAt(bytes, start + TIMES),
    };
  }
}

/** The built-in codecs read their bytes in place; any other codec is given a view of just its bytes. */
function readerOf(codec: Codec): ReadAt {
  if (codec === v8Codec) return readV8At;
  if (codec === jsonCodec) return readJsonAt;
  return (bytes, start) => codec.decode(bytes.subarray(start));
}
