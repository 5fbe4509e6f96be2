/**
 * How a leader's error travels to waiters in other processes: name, message, stack, and the error's own
 * enumerable fields that JSON can carry (code, status, ...). Waiters receive an Error with those fields;
 * the class itself cannot cross a process boundary.
 */
export function encodeFailure(error: unknown): string {
  if (!(error instanceof Error)) return JSON.stringify({ name: 'Error', message: String(error), fields: { thrown: safe(error) } });
  const fields: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(error)) {
    const copy = safe(value);
    if (copy !== undefined) fields[name] = copy;
  }
  return JSON.stringify({ name: error.name, message: error.message, stack: error.stack, fields });
}

export function decodeFailure(payload: Buffer | string): Error {
  try {
    const { name, message, stack, fields } = JSON.parse(payload.toString());
    const error = new Error(message);
    Object.assign(error, fields);
    Object.defineProperty(error, 'name', { value: name, enumerable: false, configurable: true, writable: true });
    if (stack) Object.defineProperty(error, 'stack', { value: stack, enumerable: false, configurable: true, writable: true });
    return error;
  } catch {
    return new Error(`herdless: another instance's computation failed: ${payload.toString()}`);
  }
}

function safe(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}
