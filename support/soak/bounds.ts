import { DEAD_AFTER_MS, ECHO_MS } from '../../src/bus/invalidations';
import { SETTINGS } from './log';

/*
 * The bounds the oracle holds every call to, computed from the options the workers use (log.ts SETTINGS)
 * and the README's documented rules, as __tests__/network-faults.test.ts computes them.
 */

/** For several busy processes on two cores: event-loop stalls, IPC, scheduling. */
export const MARGIN_MS = 1_500;
/** The most a fault adds to a round trip while Redis still answers (the proxy's 40 ms ± 20 ms latency, both ways). */
const SLOWER_BY_MS = 2 * 60;

/** One command: answered, or given up after commandTimeout of silence plus one deadline tick (store/deadline.ts). */
export const COMMAND_MS = SETTINGS.commandTimeoutMs + SETTINGS.commandTimeoutMs / 10 + SLOWER_BY_MS;

/**
 * A getOrSet: GET, acquire, subscribe; a wait of at most wait.timeout; a last re-check, its tags' versions,
 * the function, the stamp's check and the commit.
 */
export function callBoundMs(): number {
  return 3 * COMMAND_MS + SETTINGS.waitTimeoutMs + 4 * COMMAND_MS + SETTINGS.functionMs[1] + MARGIN_MS;
}

/** A write: its tags' versions, its script, and the invalidation it publishes. */
export function writeBoundMs(): number {
  return 4 * COMMAND_MS + MARGIN_MS;
}

/** How late an invalidation may reach a connected process: on loopback about a millisecond (README, memory tier 1). */
export const DELIVERY_MS = 100;

/**
 * How long after a fault a process may still not know it cannot trust its invalidation channel: a
 * silently dead subscription is found when an echo goes missing (DEAD_AFTER_MS), an echo is sent every
 * ECHO_MS, and a command that cannot reach Redis tells within its bound (README, memory tier 3).
 */
export const UNAWARE_MS = DEAD_AFTER_MS + ECHO_MS + COMMAND_MS + MARGIN_MS;

/** How long after a fault ends its effects may still explain what a call saw: reconnecting, reloading scripts, the lease of a holder cut off. */
export const RECOVERY_MS = SETTINGS.leaseTtlMs + UNAWARE_MS;
