import { InvalidOptionError } from './errors';

/**
 * A number of milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'` (units ms, s,
 * m, h, d). A precise type, so a mistake such as `'5 minutes'` is a type error where it is written; a
 * string known only at run time goes through parseDuration().
 */
export type Duration = number | `${number}${DurationUnit}`;
/** The units a Duration string may end with. */
type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * The longest duration Node.js can wait for: a longer setTimeout fires at once. Every option that becomes
 * a timer (lease, wait, command timeouts) is bounded by it.
 */
export const TIMER_MAX_MS = 2 ** 31 - 1;

/**
 * The longest expiry herdless sends to Redis: PX takes an integer, and sums of two such durations (a ttl
 * and what Redis keeps after it) must stay exact in a double and far below Redis' own limit.
 */
export const EXPIRY_MAX_MS = 2 ** 48;

/**
 * Turns a Duration into whole milliseconds (rounded up, so '0.5ms' never becomes 0).
 * `option` names the option in the error so the caller knows which one to fix; `max` is the longest
 * duration the option can take (a timer's, or an expiry's).
 */
export function toMs(value: unknown, option: string, { allowZero = false, max = TIMER_MAX_MS } = {}): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string' && PATTERN.test(value)) {
    const [, amount, unit] = PATTERN.exec(value)!;
    ms = Number(amount) * UNIT_MS[unit as DurationUnit];
  } else {
    throw new InvalidOptionError(option, value, "a duration: milliseconds as a number, or a string like '250ms', '30s', '5m', '1h', '1d'");
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    throw new InvalidOptionError(option, value, allowZero ? 'a duration of 0 or more' : 'a duration greater than 0');
  }
  if (ms > max) {
    const limit = max === TIMER_MAX_MS ? `${TIMER_MAX_MS} ms (24.8 days, the longest timer Node.js can set)` : `${max} ms (about 8,900 years, so Redis expiries stay exact)`;
    throw new InvalidOptionError(option, value, `a duration of at most ${limit}`);
  }
  return Math.ceil(ms);
}

/**
 * A duration read at run time (an environment variable, a config file) turned into a `Duration`, checked
 * as every option is: `ttl: parseDuration(process.env.CACHE_TTL ?? '5m')`. `Duration` stays a precise type
 * so a literal mistake ('5 minutes') is a type error where it is written; a string known only at run time
 * passes through here instead of a cast, and a bad one throws InvalidOptionError naming `option`.
 * Surrounding spaces are trimmed; 0 is accepted (whether an option takes 0 is checked where it is used).
 *
 * @param value - What was read: a number of milliseconds, or a string such as `'30s'`.
 * @param option - The name the error gives, e.g. `'CACHE_TTL'`. Default `'duration'`.
 * @throws An {@link InvalidOptionError} when `value` is not a duration.
 *
 * @example
 * ```ts
 * const cache = createCache({ ttl: parseDuration(process.env.CACHE_TTL ?? '5m', 'CACHE_TTL') });
 * ```
 */
export function parseDuration(value: string | number, option = 'duration'): Duration {
  const text = typeof value === 'string' ? value.trim() : value;
  toMs(text, option, { allowZero: true, max: EXPIRY_MAX_MS });
  return text as Duration;
}
