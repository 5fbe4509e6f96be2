import { InvalidOptionError } from './errors';

/** A number of milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${DurationUnit}`;
type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

/**
 * Turns a Duration into whole milliseconds (rounded up, so '0.5ms' never becomes 0).
 * `option` names the option in the error so the caller knows which one to fix.
 */
export function toMs(value: unknown, option: string, { allowZero = false } = {}): number {
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
  return Math.ceil(ms);
}
