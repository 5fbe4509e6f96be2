/**
 * How a leader's error travels to waiters in other processes: its name, message and stack, plus a short
 * allow-list of fields (code, status, ...) that are JSON primitives. Invariants:
 * - encoding never throws, whatever was thrown (a value that is not an Error, a revoked Proxy, an Error
 *   whose getters throw): the lease must end and the waiters must be told;
 * - only allow-listed primitive fields are written to Redis: an error's other fields can carry secrets
 *   (an HTTP client's error holds its request config, auth headers included);
 * - decoding always yields a plain Error whose fields are own data properties; nothing in the payload can
 *   replace its prototype, name, message, stack or methods.
 * Waiters receive an Error; the class itself cannot cross a process boundary.
 */
export const DEFAULT_ERROR_FIELDS: readonly string[] = ['code', 'status', 'statusCode', 'errno', 'syscall', 'type'];

/** Names no shared field may take: they belong to the Error or to Object.prototype. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'name', 'message', 'stack', 'cause', '__proto__', 'constructor', 'prototype', 'toString', 'toLocaleString',
  'valueOf', 'toJSON', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
]);

export function encodeFailure(thrown: unknown, fields: readonly string[]): string {
  try {
    if (!isError(thrown)) return JSON.stringify({ name: 'Error', message: `the function threw ${describeThrown(thrown)}`, fields: {} });
    const shared: Record<string, string | number | boolean | null> = {};
    for (const name of fields) {
      const value = read(thrown, name);
      if (isJsonPrimitive(value)) shared[name] = value;
    }
    const name = read(thrown, 'name');
    const message = read(thrown, 'message');
    const stack = read(thrown, 'stack');
    return JSON.stringify({
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : '',
      stack: typeof stack === 'string' ? stack : undefined,
      fields: shared,
    });
  } catch {
    return JSON.stringify({ name: 'Error', message: 'the function threw an error that could not be read', fields: {} });
  }
}

export function decodeFailure(payload: Buffer | string): Error {
  let parsed: { name?: unknown; message?: unknown; stack?: unknown; fields?: unknown };
  try {
    parsed = JSON.parse(payload.toString());
    if (parsed === null || typeof parsed !== 'object') throw new TypeError('not an object');
  } catch {
    return new Error(`herdless: another instance's computation failed: ${payload.toString()}`);
  }
  const error = new Error(typeof parsed.message === 'string' ? parsed.message : '');
  if (typeof parsed.name === 'string') hidden(error, 'name', parsed.name);
  if (typeof parsed.stack === 'string') hidden(error, 'stack', parsed.stack);
  const fields = parsed.fields;
  if (fields !== null && typeof fields === 'object' && !Array.isArray(fields)) {
    for (const name of Object.keys(fields)) {
      const value = (fields as Record<string, unknown>)[name];
      if (RESERVED_FIELDS.has(name) || !isJsonPrimitive(value)) continue;
      Object.defineProperty(error, name, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return error;
}

function isError(value: unknown): value is Error {
  try {
    return value instanceof Error;
  } catch {
    return false; // a revoked Proxy throws even here
  }
}

function read(from: object, name: string): unknown {
  try {
    return (from as Record<string, unknown>)[name];
  } catch {
    return undefined;
  }
}

function isJsonPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function hidden(error: Error, name: 'name' | 'stack', value: string): void {
  Object.defineProperty(error, name, { value, enumerable: false, configurable: true, writable: true });
}

/** A few words about a thrown value that is not an Error; never throws. */
export function describeThrown(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return `the string ${JSON.stringify(value.length > 200 ? value.slice(0, 200) + '...' : value)}`;
      case 'number':
      case 'boolean':
      case 'bigint':
      case 'undefined':
        return `${typeof value} ${String(value)}`;
      case 'symbol':
        return `a symbol`;
      case 'function':
        return 'a function';
    }
    if (value === null) return 'null';
    return `a non-Error object (${Object.prototype.toString.call(value)})`;
  } catch {
    return 'a value that cannot be inspected';
  }
}
