/**
 * A codec turns a computed value into bytes and back. Its `name` is written into every envelope, so a
 * reader never decodes bytes written by a different codec: it treats them as a miss and recomputes.
 */
export interface Codec {
  readonly name: string;
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/**
 * Reads a value from `bytes` starting at `start` (where the envelope's header ends). The built-in codecs
 * read their bytes in place: a hit then makes no Buffer view of its value, one allocation fewer per hit.
 * Any other codec is handed a view of just its bytes (envelope.ts).
 */
export type ReadAt = (bytes: Buffer, start: number) => unknown;
