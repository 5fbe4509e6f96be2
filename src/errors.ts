/**
 * Base class of every error herdless throws; `code` is stable, messages may improve.
 *
 * @example
 * ```ts
 * try {
 *   await cache.getOrSet(key, load, { hardTimeout: '2s' });
 * } catch (error) {
 *   if (error instanceof HerdlessError && error.code === 'ERR_HERDLESS_TIMEOUT') return fallback;
 *   throw error;
 * }
 * ```
 */
export class HerdlessError extends Error {
  /** What went wrong, as a stable `ERR_HERDLESS_*` string to branch on; the message's wording may change. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option or argument has a value herdless cannot use. Thrown where it is passed. `code`: 'ERR_HERDLESS_INVALID_OPTION'. */
export class InvalidOptionError extends HerdlessError {
  /** The option or argument at fault, with its section for a nested one ('wait.timeout', 'l1.maxBytes'). */
  readonly option: string;
  constructor(option: string, got: unknown, expected: string, message?: string) {
    super('ERR_HERDLESS_INVALID_OPTION', message ?? `herdless: option '${option}' must be ${expected}; got ${describe(got)}`);
    this.option = option;
  }

  /** The error for an option herdless does not know (a misspelt one, most often); the message lists the `known` ones. */
  static unknown(option: string, known: readonly string[]): InvalidOptionError {
    return new InvalidOptionError(option, undefined, '', `herdless: unknown option '${option}'; known options are ${known.join(', ')}`);
  }
}

/** A waiter gave up after `wait.timeout` with `onTimeout: 'throw'`. `code`: 'ERR_HERDLESS_WAIT_TIMEOUT'. */
export class WaitTimeoutError extends HerdlessError {
  /** The key whose computation in another instance was waited for. */
  readonly key: string;
  constructor(key: string, timeoutMs: number) {
    super(
      'ERR_HERDLESS_WAIT_TIMEOUT',
      `herdless: waited ${timeoutMs} ms for another instance to compute '${key}'; ` +
        `raise 'wait.timeout' or use wait: { onTimeout: 'compute' } to compute without the cache`,
    );
    this.key = key;
  }
}

/**
 * A caller without a stale value waited `hardTimeout` for a computation (its own or another instance's).
 * The computation goes on, and its result is stored when it finishes (fenced as always).
 * `code`: 'ERR_HERDLESS_TIMEOUT'.
 */
export class TimeoutError extends HerdlessError {
  /** The key that was not computed in time. */
  readonly key: string;
  /** The `hardTimeout` that ran out, in milliseconds. */
  readonly timeoutMs: number;
  constructor(key: string, timeoutMs: number) {
    super(
      'ERR_HERDLESS_TIMEOUT',
      `herdless: '${key}' was not computed within hardTimeout (${timeoutMs} ms); the computation goes on and its result will be stored; ` +
        `raise 'hardTimeout', or set 'grace' so a stale value can be served meanwhile`,
    );
    this.key = key;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The codec could not encode the value the function returned (a function, a symbol, ...). Nothing was cached.
 * The codec's own error is the `cause`. `code`: 'ERR_HERDLESS_ENCODE'.
 */
export class EncodeError extends HerdlessError {
  /** The key whose value could not be stored. */
  readonly key: string;
  constructor(key: string, cause: unknown) {
    super(
      'ERR_HERDLESS_ENCODE',
      `herdless: the value computed for '${key}' cannot be stored by the codec ` +
        `(${cause instanceof Error ? cause.message : String(cause)}); return data only ` +
        `(no functions, symbols or class instances with behaviour) or pass a codec that can encode it`,
      { cause },
    );
    this.key = key;
  }
}

/**
 * Redis could not be used for this call; the call was answered without the cache. Seen by 'error' listeners.
 * The error behind it, when there is one, is the `cause`. `code`: 'ERR_HERDLESS_REDIS_UNAVAILABLE'.
 */
export class RedisUnavailableError extends HerdlessError {
  constructor(message: string, cause?: unknown) {
    super('ERR_HERDLESS_REDIS_UNAVAILABLE', `herdless: ${message}`, { cause });
  }
}

/** The cache was closed; create a new one. `code`: 'ERR_HERDLESS_CLOSED'. */
export class ClosedError extends HerdlessError {
  constructor() {
    super('ERR_HERDLESS_CLOSED', 'herdless: this cache was closed; create a new one with createCache()');
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  if (value !== null && typeof value === 'object') {
    try {
      return JSON.stringify(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

/**
 * A function ran longer than `lease.maxHold`; its lease was released so another caller can compute, and
 * its result will not be cached. Seen by 'error' listeners; the function's own caller still gets its result.
 * `code`: 'ERR_HERDLESS_LEASE_HELD_TOO_LONG'.
 */
export class LeaseHeldTooLongError extends HerdlessError {
  /** The key whose function ran too long. */
  readonly key: string;
  constructor(key: string, maxHoldMs: number) {
    super(
      'ERR_HERDLESS_LEASE_HELD_TOO_LONG',
      `herdless: the function for '${key}' ran longer than lease.maxHold (${maxHoldMs} ms); its lease was released ` +
        `so another caller can compute, and its result will not be cached; raise 'lease.maxHold' if it is this slow by design`,
    );
    this.key = key;
  }
}

/**
 * An option error that names where the options were written ("createCache", "getOrSet", "@Cached on
 * UserService.getUser", "cached(loadUser)"), so a mistake is told apart from the same option elsewhere.
 * Other errors are returned as they are.
 */
export function located(error: unknown, where: string): unknown {
  if (!(error instanceof InvalidOptionError)) return error;
  const message = error.message.replace(/^herdless: /, '');
  return new InvalidOptionError(error.option, undefined, '', `herdless: ${where}: ${message}`);
}

/** Runs a check of options written at `where`; an option error it throws names that place. */
export function checkedAt<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw located(error, where);
  }
}

/**
 * A write, a tag invalidation, or the versions a set() needs: a failure is reported as Redis unavailable
 * (a write may have landed all the same); `what` names the operation in the message.
 */
export async function failedWrite<T>(what: string, pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    if (error instanceof RedisUnavailableError || error instanceof ClosedError) throw error;
    throw new RedisUnavailableError(`${what} failed: ${(error as Error)?.message ?? error}`, error);
  }
}
