import type { Worker } from '../lib/fleet';
import type { AdminClient } from '../lib/redis';
import { median, percentile, round } from '../lib/stats';
import type { Strategy } from '../strategies/strategy';
import { INSTRUMENTATION_VARIANTS, type InstrumentationHitsResult } from '../worker/instrumentation';

export interface InstrumentationOptions {
  url: string;
  /** Concurrent callers of each scenario, each on its own key (32: CPU bound; 1: round-trip bound). */
  callers: number[];
  roundMs: number;
  rounds: number;
}

/** One variant of one scenario: its throughput against the same rounds' hits with nothing listening. */
export interface InstrumentationRow {
  strategy: string;
  callers: number;
  variant: string;
  opsPerSec: number;
  /** The baseline's (variant 'none') throughput, median over the same rounds. */
  baselineOpsPerSec: number;
  /** Median over rounds of this variant / none, each round running every variant back to back (1 for none). */
  ratio: number;
  /** The worst round's ratio. */
  minRatio: number;
  p50Us: number;
  p99Us: number;
  /** Per call while the variant was attached (the adapter only): spans that ended, and calls herdless.requests counted (1 expected). */
  spansPerCall: number | undefined;
  requestsPerCall: number | undefined;
  /** Metric data points one collection found after the rounds, by metric name (the adapter only). */
  metricPoints: Record<string, number> | undefined;
  /** Share of hits from memory in one pass after the rounds, nothing attached (caches that report it). */
  memoryHitShare: number | undefined;
}

export interface InstrumentationResult {
  callers: number[];
  roundMs: number;
  rounds: number;
  /** Unmeasured calls before each window, once its variant is attached (worker/instrumentation.ts). */
  settleMs: number;
  rows: InstrumentationRow[];
  /** How each variant is set up, in round order (none, the baseline, first). */
  variants: { name: string; setup: string }[];
}

/** The issue's goal for the adapter: OpenTelemetry on costs at most 10% of the hits (median ratio >= 0.90). */
export const OTEL_GOAL = 0.9;
/** Versions the results record when this phase runs: the adapter's API and the SDK it is measured with. */
export const INSTRUMENTATION_PACKAGES = ['@opentelemetry/api', '@opentelemetry/sdk-metrics', '@opentelemetry/sdk-trace-base', '@opentelemetry/context-async-hooks'];

/**
 * The instrumentation phase, one worker, strategy after strategy (herdless, herdless-l1; each on an
 * emptied Redis): hits with nothing listening on herdless's channels, with a no-op diagnostics subscriber
 * and with the OpenTelemetry adapter on, side by side in rounds (worker/instrumentation.ts).
 */
export async function runInstrumentation(admin: AdminClient, worker: Worker, strategies: readonly Strategy[], options: InstrumentationOptions, log: (line: string) => void): Promise<InstrumentationResult> {
  // Half a window to recompile after each attach or detach: enough here for the rounds to agree.
  const settleMs = Math.round(options.roundMs / 2);
  const result: InstrumentationResult = {
    callers: options.callers,
    roundMs: options.roundMs,
    rounds: options.rounds,
    settleMs,
    rows: [],
    variants: INSTRUMENTATION_VARIANTS.map(({ name, setup }) => ({ name, setup })),
  };
  for (const strategy of strategies) {
    await admin.flushAll();
    await worker.request({ type: 'open', strategy: strategy.name, options: { url: options.url, namespace: `instrumentation-${strategy.name}`, ttlMs: 600_000 } });
    try {
      for (const callers of options.callers) {
        const measured = await worker.request<InstrumentationHitsResult>({ type: 'instrumentation-hits', callers, roundMs: options.roundMs, rounds: options.rounds, warmupMs: options.roundMs, settleMs });
        const rows = variantRows(strategy.name, callers, measured);
        result.rows.push(...rows);
        const share = rows[0].memoryHitShare === undefined ? '' : `; ${round(rows[0].memoryHitShare * 100)}% from memory`;
        log(`instr ${strategy.name.padEnd(14)} ${callers === 1 ? '1 caller' : `${callers} callers, own keys`}: ${rows.map(rowText).join(', ')}${share}`);
      }
    } finally {
      await worker.request({ type: 'close' });
    }
  }
  return result;
}

function variantRows(strategy: string, callers: number, measured: InstrumentationHitsResult): InstrumentationRow[] {
  const baseline = measured.variants[0].opsPerSec;
  const tiers = measured.tiers;
  return INSTRUMENTATION_VARIANTS.map((variant, v) => {
    const side = measured.variants[v];
    const ratios = side.opsPerSec.map((ops, i) => ops / baseline[i]);
    return {
      strategy,
      callers,
      variant: variant.name,
      opsPerSec: Math.round(median(side.opsPerSec)),
      baselineOpsPerSec: Math.round(median(baseline)),
      ratio: round(median(ratios), 3),
      minRatio: round(Math.min(...ratios), 3),
      p50Us: round(percentile(side.latenciesUs, 50)),
      p99Us: round(percentile(side.latenciesUs, 99)),
      spansPerCall: side.recorded && round(side.recorded.spans / side.attachedCalls, 3),
      requestsPerCall: side.recorded && round(side.recorded.requests / side.attachedCalls, 3),
      metricPoints: side.metricPoints,
      memoryHitShare: tiers && tiers.memory + tiers.redis > 0 ? round(tiers.memory / (tiers.memory + tiers.redis), 3) : undefined,
    };
  });
}

function rowText(r: InstrumentationRow): string {
  const ratio = r.variant === INSTRUMENTATION_VARIANTS[0].name ? '' : ` ${r.ratio}x (worst ${r.minRatio}x)`;
  const spans = r.spansPerCall === undefined ? '' : `, per call ${r.spansPerCall} spans and ${r.requestsPerCall} herdless.requests`;
  return `${r.variant} ${r.opsPerSec}/s${ratio}, p50/p99 ${r.p50Us}/${r.p99Us} us${spans}`;
}

/** The rows of one variant, herdless's strategies and scenarios in run order. */
export function variantOf(result: InstrumentationResult | undefined, variant: string): InstrumentationRow[] {
  return (result?.rows ?? []).filter((r) => r.variant === variant);
}
