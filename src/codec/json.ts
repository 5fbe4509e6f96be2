import type { Codec, ReadAt } from './codec';

/**
 * JSON, for fleets where something other than Node.js reads the cache. Lossy in the usual JSON ways:
 * Dates become strings, Map/Set become {} , undefined inside objects disappears. A top-level value JSON
 * cannot represent (undefined, a function, a symbol, a BigInt) is refused rather than stored as something else.
 *
 * @example
 * ```ts
 * const cache = createCache({ codec: jsonCodec });
 * ```
 */
export const jsonCodec: Codec = {
  name: 'json',
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`JSON cannot represent a value of type ${typeof value}`);
    return Buffer.from(text, 'utf8');
  },
  decode: (bytes) => JSON.parse(bytes.toString('utf8')),
};

/** jsonCodec.decode of the bytes from `start` on, decoded where they lie. */
export const readJsonAt: ReadAt = (bytes, start) => JSON.parse(bytes.toString('utf8', start));
