import { deserialize, serialize } from 'node:v8';
import type { Codec } from './codec';

/**
 * The default codec: V8's structured-clone serializer, the one behind `structuredClone`. Date, Map, Set,
 * BigInt, RegExp, typed arrays, undefined, NaN, -0, Error and cyclic objects all come back as they went in;
 * functions and symbols are refused (the cache turns that into an EncodeError). Class instances come back
 * as plain objects, as with structuredClone. Readable by Node.js of the same or a newer version.
 */
export const v8Codec: Codec = {
  name: 'v8',
  encode: (value) => serialize(value),
  decode: (bytes) => deserialize(bytes),
};
