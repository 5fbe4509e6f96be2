/**
 * A codec turns a computed value into bytes and back. Its `name` is written into every envelope, so a
 * reader never decodes bytes written by a different codec: it treats them as a miss and recomputes.
 */
export interface Codec {
  readonly name: string;
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}
