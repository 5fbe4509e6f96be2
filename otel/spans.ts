import { performance } from 'node:perf_hooks';
import { context as contexts, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { missChannel, refreshChannel, type GetOrSetContext, type RefreshContext } from '../src/telemetry/channels';
import { errorType, groupOf, subscribeTracing, type KeyGroup } from '../src/telemetry/meter';

/*
 * The span model: one `herdless.miss` span per getOrSet call that misses (the `herdless:miss` trace, around
 * the lease conversation), and one `herdless.refresh` span per background refresh attempt that runs the
 * function. The function runs inside its span's context (the context's runFactory), so a span it starts (a
 * database query's) is the herdless span's child. A hit makes no span.
 *
 * Invariants:
 * - a span is kept per call context in a WeakMap, and ended once, at the miss trace's asyncEnd (a call
 *   answered without the cache because Redis failed is traced as a miss too);
 * - the function always runs, exactly once, whatever the tracer does: a failure to make a span runs it without one;
 * - a runFactory set by another subscriber before this one still runs, inside the span's context.
 */

const MISS = 'herdless.miss';
const REFRESH = 'herdless.refresh';

/** One traced call's span, and the context its function runs in. */
interface Traced {
  readonly span: Span;
  readonly context: Context;
  /** What a refresh's function threw (a refresh attempt itself never rejects). */
  thrown?: { readonly error: unknown };
  /**
   * The call has settled and its span ended. The entry stays: a computation that outlives its call
   * (hardTimeout) still runs inside the ended span's context, and its own spans stay its children.
   */
  ended?: true;
}

export function startSpans(tracer: Tracer, keyGroup: KeyGroup | undefined): () => void {
  const traced = new WeakMap<object, Traced>();

  const begin = (call: GetOrSetContext | RefreshContext, name: string, parent: Context, startTime?: number): Traced => {
    const attributes: Attributes = { 'herdless.namespace': call.namespace };
    const group = groupOf(keyGroup, call.key, call.namespace);
    if (group !== undefined) attributes['herdless.key_group'] = group;
    const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes, startTime }, parent);
    const entry: Traced = { span, context: trace.setSpan(parent, span) };
    traced.set(call, entry);
    return entry;
  };

  /**
   * The function's runner for a call: inside the call's span, started here if none was (`name`). `parent`: the
   * caller's context when the call started. `watch`: record what the function throws on the span.
   */
  const runner = (call: GetOrSetContext | RefreshContext, name: string, parent: Context, startTime: number | undefined, watch: boolean) => {
    const inner = call.runFactory;
    return <T>(run: () => T): T => {
      const go = inner === undefined ? run : () => inner(run);
      let entry: Traced | undefined;
      try {
        entry = traced.get(call) ?? begin(call, name, parent, startTime);
      } catch {
        return go();
      }
      if (!watch) return contexts.with(entry.context, go);
      const watched = entry;
      return contexts.with(watched.context, () => {
        try {
          const result = go();
          if (result instanceof Promise) result.then(undefined, (error: unknown) => (watched.thrown = { error }));
          return result;
        } catch (error) {
          watched.thrown = { error };
          throw error;
        }
      });
    };
  };

  const missed = (call: GetOrSetContext) => {
    if (traced.has(call)) return;
    const active = contexts.active();
    begin(call, MISS, active);
    // A call whose start this subscription did not see (it started before, or is not traced) has no runner yet.
    if (call.runFactory === undefined) call.runFactory = runner(call, MISS, active, undefined, false);
  };

  const settled = (call: GetOrSetContext) => {
    const entry = traced.get(call);
    if (entry === undefined || entry.ended) return;
    entry.ended = true;
    const { span } = entry;
    span.setAttribute('herdless.outcome', call.outcome ?? 'refused');
    if ((call.outcome === 'hit' || call.outcome === 'stale') && call.tier !== undefined) span.setAttribute('herdless.tier', call.tier);
    if ('error' in call) failed(span, call.error);
    span.end();
  };

  // A refresh attempt's span starts when its function runs (most attempts find the key refreshed or
  // refreshing elsewhere and run nothing), dated from the attempt's start.
  const refreshStarted = (call: RefreshContext) => {
    call.runFactory = runner(call, REFRESH, contexts.active(), performance.timeOrigin + performance.now(), true);
  };

  const refreshed = (call: RefreshContext) => {
    const entry = traced.get(call);
    if (entry === undefined || entry.ended) return;
    entry.ended = true;
    const { span } = entry;
    span.setAttribute('herdless.refresh.outcome', call.outcome ?? 'failed');
    if (entry.thrown !== undefined) failed(span, entry.thrown.error);
    else if ('error' in call) failed(span, call.error);
    span.end();
  };

  const stops = [
    // Misses only: a hit makes no span, and costs nothing more for the spans being on.
    subscribeTracing(missChannel, { start: missed, asyncEnd: settled }),
    subscribeTracing(refreshChannel, { start: refreshStarted, asyncEnd: refreshed }),
  ];
  return () => {
    for (const stop of stops.splice(0)) stop();
  };
}

/** Marks a span failed: the exception event, `error.type`, and status ERROR, as OpenTelemetry's conventions ask. */
function failed(span: Span, error: unknown): void {
  span.setAttribute('error.type', errorType(error));
  let message: string | undefined;
  try {
    if (error instanceof Error) {
      span.recordException(error);
      message = error.message;
    } else if (typeof error === 'string') {
      span.recordException(error);
      message = error;
    }
  } catch {
    // an error whose fields cannot be read: the status still says it failed
  }
  span.setStatus(message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message });
}
