import { scriptLine } from './store/script';

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

/**
 * Redis refused a command to the cache's user: its ACL leaves out a command herdless sends, or its keys
 * or channels (a NOPERM reply, or a command refused inside one of herdless' scripts). Like any
 * RedisUnavailableError the call was answered without the cache, or the write rejected; seen on 'error'
 * alone, a script's write landed but a wake-up or invalidation it publishes was refused. The message
 * names the command and what to grant (the README's "Least privilege" lists every permission); Redis'
 * own error is the `cause`. `code`: 'ERR_HERDLESS_REDIS_REFUSED'.
 */
export class RedisRefusedError extends RedisUnavailableError {
  // Not ERR_HERDLESS_REDIS_UNAVAILABLE: retrying or waiting for Redis will not help; the ACL must change.
  override readonly code = 'ERR_HERDLESS_REDIS_REFUSED';
  /** The command refused, as an ACL rule names it ('set', 'client|list'), when Redis' error tells. */
  readonly command: string | undefined;
  constructor(message: string, cause: unknown, command: string | undefined) {
    super(message, cause);
    this.command = command;
  }
}

// An ACL refusal, at the top level (NOPERM) or inside a script (Redis 7.0 names neither the command nor
// the script there: "The user executing the script can't run this command or subcommand script: <sha>,
// on @user_script:<line>").
const ACL_REFUSAL = /\bNOPERM\b|no permissions to|The user executing the script can't/;
const IN_SCRIPT = /script: ([0-9a-f]{40}), on @user_script:(\d+)/;

/**
 * What herdless says of Redis' refusal (`said`, its error) of `command` (upper case, several joined by
 * ' or ', undefined when unknown), sent `where` (' inside ...', or '' for a command of its own): what the
 * cache's user was refused, and what to grant it.
 */
export function refusalText(command: string | undefined, said: string, where: string): string {
  const of = command === undefined ? '' : ` of ${command}`;
  let refused: string;
  if (/\bkeys?\b/.test(said)) refused = `access to a key${of}${where}: allow it the namespace's keys (~<namespace>:*)`;
  else if (/\bchannels?\b/.test(said)) refused = `a channel${of}${where}: allow it the namespace's channels (&<namespace>:*)`;
  else if (command === undefined) refused = `a command${where}: grant it the command Redis names`;
  else refused = `${command}${where}: grant it ${command.split(' or ').map((c) => `+${c.toLowerCase()}`).join(' and ')}`;
  return `the cache's Redis user (its ACL) was refused ${refused} (Redis said: ${said})`;
}

/**
 * `cause` as a RedisRefusedError when it is Redis refusing a command to the cache's user, else undefined.
 * Its message starts with `what` (the operation) and names the command: from Redis' error when it does,
 * else, for one refused inside a script, from the script's line, with the script's name.
 */
export function refusedBy(what: string, cause: unknown): RedisRefusedError | undefined {
  const said = cause instanceof Error ? cause.message : undefined;
  if (said === undefined || !ACL_REFUSAL.test(said)) return undefined;
  const named = /'([a-z|]+)' command/i.exec(said)?.[1];
  const at = IN_SCRIPT.exec(said);
  const line = at ? scriptLine(at[1], Number(at[2])) : undefined;
  const commands = named !== undefined ? [named.toUpperCase()] : (line?.commands ?? []);
  const where = line ? ` inside herdless' ${line.name} script (line ${at![2]})` : at ? ' inside a script herdless did not make' : '';
  const command = commands.length > 0 ? commands.join(' or ') : undefined;
  return new RedisRefusedError(`${what}: ${refusalText(command, said, where)}`, cause, commands.length === 1 ? commands[0].toLowerCase() : undefined);
}

/**
 * Redis' reply cannot be the answer to the command herdless sent: a value written for another key, or a
 * reply of the wrong type (a GET answered by a number, a script by a string). The connection's replies
 * are misaligned, each handed to another command: node-redis 4 does so after a connection was cut inside
 * a reply. Nothing from it is served; the call is answered as on any Redis trouble. A connection herdless
 * opened is replaced at once; a client you passed in is reported once per connection (herdless cannot open
 * it again: reconnect it). An 'error' event only. `code`: 'ERR_HERDLESS_MISALIGNED_REPLY'.
 */
export class MisalignedReplyError extends HerdlessError {
  /** The command (or script) whose reply it was. */
  readonly command: string;
  constructor(message: string, command: string) {
    super('ERR_HERDLESS_MISALIGNED_REPLY', `herdless: ${message}`);
    this.command = command;
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
    // A refusal by the ACL gets a code of its own, and a message naming the command (refusedBy).
    throw refusedBy(`${what} failed`, error) ?? new RedisUnavailableError(`${what} failed: ${(error as Error)?.message ?? error}`, error);
  }
}
