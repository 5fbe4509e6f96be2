/**
 * Connection errors repeat: a client that cannot reach Redis retries every few hundred milliseconds and
 * reports each failure. Listeners hear each distinct error (by message) at most once per `intervalMs`, so a
 * long outage is visible without flooding logs.
 */
export function limitRepeats(report: (error: unknown) => void, intervalMs = 5_000): (error: unknown) => void {
  const lastReported = new Map<string, number>();
  return (error) => {
    const message = String((error as Error)?.message ?? error);
    const now = Date.now();
    const last = lastReported.get(message);
    if (last !== undefined && now - last < intervalMs) return;
    if (lastReported.size > 100) lastReported.clear();
    lastReported.set(message, now);
    report(error);
  };
}
