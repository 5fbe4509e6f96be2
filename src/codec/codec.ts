/**
 * A codec turns a computed value into bytes and back. Its `name` is written into every envelope, so a
 * reader never decodes bytes written by a different codec: it treats them as a miss and recomputes.
 * The default is v8Codec; jsonCodec is built in too.
 *
 * @example
 * ```ts
 * import { gunzipSync, gzipSync } from 'node:zlib';
 *
 * // Large values, compressed: the default encoding, gzipped.
 * const gzippedV8: Codec = {
 *   name: 'v8+gzip',
 *   encode: (value) => gzipSync(v8Codec.encode(value)),
 *   decode: (bytes) => v8Codec.decode(gunzipSync(bytes)),
 * };
 * const cache = createCache({ codec: gzippedV8 });
 * ```
 */
export interface Codec {
  /**
   * Identifies the format in every stored entry: 1-255 printable ASCII characters, no spaces. Change it when the
   * format changes, so entries written the old way are recomputed rather than misread.
   */
  readonly name: string;
  /** Turns a computed value into bytes. If it throws, the call rejects with EncodeError and nothing is cached. */
  encode(value: unknown): Buffer;
  /** Turns bytes this codec's encode() wrote back into a value. */
  decode(bytes: Buffer): unknown;
}

/**
 * Reads a value from `bytes` starting at `start` (where the envelope's header ends). The built-in codecs
 * read their bytes in place: a hit then makes no Buffer view of its value, one allocation fewer per hit.
 * Any other codec is handed a view of just its bytes (envelope.ts).
 */
export type ReadAt = (bytes: Buffer, start: number) => unknown;
