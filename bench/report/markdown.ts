import { ARRIVE_AFTER_MS, TAKEOVER_GOAL_MS } from '../phases/crash';
import { scenarioName } from '../phases/hits';
import { kb, mb } from '../phases/memory';
import { OTEL_GOAL } from '../phases/instrumentation';
import { commandText, hitsMeetGoal, INVALIDATION_P50_FACTOR, invalidationsMatch, TAG_HIT_GOAL } from '../phases/tags';
import type { Results } from './results';

const yes = (met: boolean | undefined) => (met === undefined ? 'not run' : met ? 'met' : '**missed**');
const num = (v: number | null | undefined) => (v === undefined || v === null || !Number.isFinite(v) ? '-' : String(v));
const pipes = (s: string) => s.replace(/\|/g, '\\|');

/** The run as markdown tables: what the README shows, and what a reviewer checks against the JSON. */
export function markdown(results: Results, chartFile: string | undefined, expiryChartFile?: string): string {
  const env = results.environment;
  const lines: string[] = [];
  lines.push(`# herdless benchmark (${results.mode})`, '');
  lines.push(`\`${results.command}\`, ${results.startedAt}, ${results.durationSeconds} s.`);
  lines.push(
    `Node ${env.node}, Redis ${env.redis}, ${env.cores} cores (${env.cpu}), ${env.memoryGiB} GiB, ${env.os}, load average ${env.loadAverage.join(' ')}; herdless ${env.herdless}; ` +
      Object.entries(env.packages)
        .map(([name, version]) => `${name} ${version}`)
        .join(', ') +
      '.',
    '',
  );
  if (results.herd.length) {
    const { processes, callers, repeats } = results.herd[0];
    lines.push(`## Herd: ${processes} processes x ${callers} callers on one cold key (${repeats} herd${repeats > 1 ? 's' : ''} per row)`, '');
    if (chartFile) lines.push(`![factory runs and p99 latency per strategy](${chartFile})`, '');
    lines.push('| strategy | factory time | factory runs | failed | p50 ms | p99 ms | max ms | p99 - factory ms | hand-off p50 / p99 ms | Redis cmds/call | equal values |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const r of results.herd) {
      lines.push(
        `| ${r.strategy} | ${r.deltaMs} ms | ${r.factoryRuns} | ${r.failed} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.p99OverDeltaMs} | ${r.handoffP50Ms === undefined ? '-' : `${r.handoffP50Ms} / ${r.handoffP99Ms}`} | ${r.commandsPerCall} | ${r.equalValues ? 'yes' : `no (${r.distinctValues})`} |`,
      );
    }
    lines.push(
      '',
      'Factory runs: the most in any herd of the row (the function counts its runs in each process). Latencies pool every herd of the row, each measured from the moment the process fired its callers. Hand-off: how long after the first factory run returned the callers of processes that ran no factory got their answer (- where every process computed). Redis cmds/call counts every command Redis ran (INFO commandstats), those inside scripts included. Equal values: whether every caller of a herd got the same value (type and content); the number is the most distinct values in one herd.' +
        (results.herd.some((r) => r.strategy === 'herdless-cluster')
          ? ' herdless-cluster: the same herd against a local Redis Cluster (3 masters + 3 replicas on this machine), its commands summed over the masters (the replicas\' REPLCONF acknowledgements left out).'
          : ''),
      '',
    );
  }
  const expiry = results.expiry ?? [];
  if (expiry.length) {
    const { processes, lanes, ttlMs, fnMs, runMs, graceMs, minimumRuns } = expiry[0];
    lines.push(`## Expiry: ${processes} processes x ${lanes} lanes calling one hot key back to back for ${runMs / 1000} s (ttl ${ttlMs} ms, function ${fnMs} ms)`, '');
    if (expiryChartFile) lines.push(`![factory runs and blocked calls per strategy across expiries](${expiryChartFile})`, '');
    lines.push('| strategy | factory runs | runs per process | calls | blocked | p50 ms | p99 ms | p999 ms | max ms | stale calls | staleness p99 / max ms | Redis cmds/call | failed |');
    lines.push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of expiry) {
      if (r.error) {
        lines.push(`| ${r.strategy} | could not run: ${pipes(r.error)} | - | - | - | - | - | - | - | - | - | - | - |`);
        continue;
      }
      lines.push(
        `| ${r.strategy} | ${r.factoryRuns} | ${r.runsPerProcess.join(' / ')} | ${r.calls} | ${r.blocked} | ${num(r.p50Ms)} | ${num(r.p99Ms)} | ${num(r.p999Ms)} | ${num(r.maxMs)} | ${r.staleCalls} | ${num(r.staleP99Ms)} / ${num(r.staleMaxMs)} | ${num(r.commandsPerCall)} | ${r.failed}${r.errors.length ? ` (${pipes(r.errors[0])})` : ''} |`,
      );
    }
    lines.push(
      '',
      `Minimum to compare factory runs with: ceil(run / (ttl + function)) = ceil(${runMs} / (${ttlMs} + ${fnMs})) = ${minimumRuns} for the fleet: the first fill, then one refresh per expiry, a value living ttl after it was computed and its successor taking the function's time (a cache that refreshes ahead and never serves a stale value needs about ceil(run / ttl) = ${Math.ceil(runMs / ttlMs)}). ` +
        'Factory runs are counted fleet-wide by an INCR in Redis in every run; runs per process are each process\'s own count. ' +
        `Calls, blocked, latencies and staleness leave out each lane's first call (the key is cold, so it fills the cache or waits for the fill). Blocked: calls slower than half the function's time (${fnMs / 2} ms). ` +
        `Staleness of a served value: answered at - computedAt - ttl (the function returns the time it computed); <= 0 is fresh, stale calls count those above 0. Redis cmds/call: every command Redis ran (INFO commandstats) over every call, first calls included, the benchmark's own INCRs and QUITs left out. Caches with a stale-while-revalidate mode run with it, grace ${graceMs} ms; their setup is below.`,
      '',
      '| strategy | setup in this phase |',
      '| --- | --- |',
      ...expiry.map((r) => `| ${r.strategy} | \`${r.setup}\` |`),
      '',
    );
  }
  if (results.crash?.length) lines.push(...crashSection(results.crash));
  if (results.hits.length) {
    const shares = results.hits.some((r) => r.memoryHitShare !== undefined);
    lines.push('## Hits against raw GET of the same key on the same connection', '');
    lines.push(`| scenario | strategy | callers | keys | hits/s | raw GET/s | ratio (worst round) | hit p50 / p99 us | GET p50 / p99 us |${shares ? ' from memory |' : ''}`);
    lines.push(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |${shares ? ' ---: |' : ''}`);
    for (const r of results.hits) {
      const share = shares ? ` ${r.memoryHitShare === undefined ? '-' : `${Math.round(r.memoryHitShare * 1000) / 10}%`} |` : '';
      lines.push(`| ${scenarioName(r)} | ${r.strategy} | ${r.callers} | ${r.keys} | ${r.cacheOpsPerSec} | ${r.rawOpsPerSec} | ${r.ratio}x (${r.minRatio}x) | ${r.cacheP50Us} / ${r.cacheP99Us} | ${r.rawP50Us} / ${r.rawP99Us} |${share}`);
    }
    lines.push(
      '',
      'Raw and cache rounds alternate on the same connection and the ratio is the median of the per-round ratios. With 1 caller a hit is bound by the round trip (a request handler reading the cache); with 32 callers, each on its own key so no in-process coalescing helps, the process is CPU-bound and the ratio is what decoding and bookkeeping cost next to a pipelined GET that decodes nothing. ' +
        'The hot key (100 callers on one key) and the spread (1,000 keys over 100 callers, caller i cycling over keys i, i + 100, i + 200, ...; all 1,000 filled first) are what a memory tier is for: its hits never leave the process. ' +
        (shares ? 'From memory: of the hits of one pass over every caller\'s keys after the rounds, the share the cache reports as served from memory (herdless\'s hit event, bentocache\'s cache:hit layer); - where the cache does not report it.' : ''),
      '',
    );
  }
  const coherence = results.coherence ?? [];
  if (coherence.length) {
    const c = coherence.find((r) => !r.error) ?? coherence[0];
    lines.push(`## Coherence: ${c.readers} reader processes x ${c.lanes} lanes on ${c.keys} keys while one process writes them (one write every ${c.writeEveryMs} ms)`, '');
    lines.push('| strategy | reads/s steady / bus killed / after | read p99 ms | stale reads steady / bus killed / after | worst staleness ms | stale p99 ms | from memory | writes | subscribers killed | failed reads |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of coherence) {
      if (r.error) {
        lines.push(`| ${r.strategy} | could not run: ${pipes(r.error)} | - | - | - | - | - | - | - | - |`);
        continue;
      }
      const each = <T>(f: (p: (typeof r.subPhases)[number]) => T) => r.subPhases.map(f).join(' / ');
      const share = (v: number | undefined) => (v === undefined ? '-' : `${Math.round(v * 1000) / 10}%`);
      const p99 = Math.max(...r.subPhases.map((p) => p.readP99Ms ?? 0));
      const staleP99 = r.subPhases.map((p) => p.staleP99Ms).filter((v): v is number => v !== undefined);
      lines.push(
        `| ${r.strategy} | ${each((p) => p.readsPerSec)} | ${p99} | ${each((p) => p.stale)} | ${num(r.maxStaleMs)} | ${staleP99.length ? Math.max(...staleP99) : '-'} | ${each((p) => share(p.memoryHitShare))} | ${r.writes}${r.failedWrites ? ` (${r.failedWrites} failed)` : ''} | ${r.kills.map((k) => k.killed).join(' + ')} | ${r.failedReads}${r.errors.length ? ` (${pipes(r.errors[0])})` : ''} |`,
      );
    }
    const [steady, killed, after] = c.subPhases;
    const at = c.kills.map((k) => `${(k.atMs / 1000).toFixed(2)} s`).join(' and ');
    lines.push(
      '',
      `Every reader process calls getOrSet on the keys back to back (${c.lanes} lanes each; a read starts when its lane queues it, and the lane yields to I/O, a full turn of the event loop, before it calls, as a server reads its sockets between requests); on a miss the function reads the key's current version from a plain Redis key. ` +
        `The writer writes that key, then the cache through its own set (herdless \`cache.set\`, bentocache \`bento.set\`, cache-manager \`cache.set\`), key after key. Every read logs when it started and ended and the version it returned, every write when it completed, on one clock. ` +
        `A read is **stale** if it started more than ${c.staleAfterMs} ms after a write of its key newer than what it returned had completed; its staleness is how long before its start the first newer write completed (the JSON also has staleAtCall, the same judgement from the call, and examples of each). Read p99: the getOrSet call. ` +
        (steady && killed && after
          ? `Sub-phases by read start: steady ${steady.fromMs / 1000}-${steady.toMs / 1000} s (the bus intact), bus killed ${killed.fromMs / 1000}-${killed.toMs / 1000} s (\`CLIENT KILL TYPE pubsub\` at ${at}: every subscriber connection, the invalidation bus's included, is closed and reconnects), after ${after.fromMs / 1000}-${after.toMs / 1000} s. `
          : '') +
        'From memory: the share of hits served from memory, where the cache reports it. cache-manager has no cross-process invalidation: its memory store keeps what it read until the entry\'s ttl (10 minutes here), so its readers see another process\'s writes only on a miss.',
      '',
    );
  }
  if (results.miss.length) {
    lines.push("## A leader's miss (factory of 0 ms)", '');
    lines.push('| strategy | round trips | beyond GET + SET | commands in scripts | p50 us | p99 us | p50 vs minimum |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of results.miss) {
      lines.push(`| ${r.strategy} | ${r.roundTrips} | ${r.extraRoundTrips} | ${r.scriptCommands} | ${r.p50Us} | ${r.p99Us} | ${r.vsMinimum}x |`);
    }
    lines.push('', 'Round trips are the commands the client sent, counted by MONITOR.', '');
  }
  if (results.memory) {
    const m = results.memory;
    lines.push('## Memory (herdless, process heap after GC)', '');
    lines.push('| measure | value |', '| --- | ---: |');
    lines.push(`| heap per in-flight key, leader | ${Math.round(m.leaderPerKey)} B |`);
    lines.push(`| heap per in-flight key, waiter (${m.waitersSeen} of ${m.inflight} waiting) | ${Math.round(m.waiterPerKey)} B |`);
    lines.push(`| heap left after ${m.inflight} in-flight keys settled | ${kb(m.afterInflight)} |`);
    lines.push(`| heap left after ${m.churn} distinct keys came and went | ${kb(m.afterChurn)} |`);
    const l1 = m.l1;
    if (l1) {
      const last = Math.min(l1.maxEntries, l1.churn);
      lines.push(`| memory tier: heap per entry, ${l1.valueBytes} B value (${l1.maxEntries} entries) | ${Math.round(l1.heapPerEntry)} B |`);
      lines.push(`| memory tier: off-heap buffers per entry | ${Math.round(l1.buffersPerEntry)} B |`);
      lines.push(`| memory tier: heap (+ buffers) with ${l1.maxEntries} entries | ${mb(l1.heapWithEntries)} (+ ${mb(l1.buffersWithEntries)}) |`);
      lines.push(`| memory tier: heap (+ buffers) after ${l1.churn.toLocaleString('en-US')} distinct keys, bound ${l1.maxEntries} entries / ${l1.maxBytes} | ${mb(l1.heapAfterChurn)} (+ ${mb(l1.buffersAfterChurn)}) |`);
      lines.push(`| memory tier: entries held after the fill / after the churn | ${num(l1.heldAfterFill)} / ${num(l1.heldAfterChurn)} |`);
      lines.push(`| memory tier: of the last ${last} keys read again, answered from memory | ${l1.memoryHitsAfterChurn} |`);
      lines.push(`| memory tier: time for the ${l1.churn.toLocaleString('en-US')} keys (seeded in Redis, read, dropped from Redis) | ${(l1.churnMs / 1000).toFixed(1)} s |`);
    }
    lines.push('', `Per-key figures exclude the caller's own pending promise (${Math.round(m.controlPerKey)} B, measured alone).`);
    if (l1) {
      lines.push(
        '',
        `Memory tier: \`createCache({ l1: { maxEntries: ${l1.maxEntries}, maxBytes: '${l1.maxBytes}' } })\`. A key enters the tier when a read finds it fresh in Redis, so each key is first SET in Redis (the envelope of one ~1 KB value), then read with getOrSet, then dropped from Redis. ` +
          `Per entry: ${l1.maxEntries} such keys filled, heap after GC against before (heapUsed; buffers: arrayBuffers, where Buffers live). Then ${l1.churn.toLocaleString('en-US')} more distinct keys pass through the same tier: the heap after them, against the heap with ${l1.maxEntries} entries, shows whether the bound holds. ` +
          `Entries held: the tier's size; answered from memory: 'hit' events with tier 'memory' when the last ${Math.min(l1.maxEntries, l1.churn)} keys of the churn are read again (${l1.factoryRuns} factory runs while filling).`,
      );
    }
    lines.push('');
  }
  if (results.tags) lines.push(...tagsSection(results.tags));
  if (results.instrumentation?.rows.length) lines.push(...instrumentationSection(results.instrumentation));
  lines.push('## Targets', '', '| target | measured | status |', '| --- | --- | --- |');
  for (const t of results.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.status ?? yes(t.met)} |`);
  lines.push('', '## How each strategy is set up', '', '| strategy | setup |', '| --- | --- |');
  for (const s of results.strategies) lines.push(`| ${s.name} | \`${s.setup}\` |`);
  return lines.join('\n') + '\n';
}

/** The crash phase: a leader killed with SIGKILL in the middle of its function, waiters on its key or a caller just after. */
function crashSection(rows: NonNullable<Results['crash']>): string[] {
  const lines: string[] = [];
  const r0 = rows.find((r) => r.scenario === 'waiters') ?? rows[0];
  const fnMs = r0.fnMs;
  lines.push(`## Crash: the leader SIGKILLed ${r0.killAfterMs} ms into a ${fnMs / 1000} s function (goal: takeover <= ${TAKEOVER_GOAL_MS} ms)`, '');
  lines.push('| strategy | scenario | callers | kill -> first answer ms | kill -> last answer ms | takeover ms | call -> answer p50 / max ms | first run after the kill, ms | factory runs (after the kill) | failed |');
  lines.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const who = r.scenario === 'waiters' ? `${r.processes} x ${r.callers}` : '1';
    if (r.error) {
      lines.push(`| ${r.strategy} | ${r.scenario} | ${who} | could not run: ${pipes(r.error)} | - | - | - | - | - | - |`);
      continue;
    }
    lines.push(
      `| ${r.strategy} | ${r.scenario} | ${who} | ${num(r.killToFirstMs)} | ${num(r.killToLastMs)} | ${num(r.takeoverMs)} | ${num(r.callP50Ms)} / ${num(r.callMaxMs)} | ${num(r.firstRunAfterKillMs)} | ${num(r.factoryRuns)} (${num(r.runsAfterKill)}) | ${r.failed}${r.errors.length ? ` (${pipes(r.errors[0])})` : ''} |`,
    );
  }
  lines.push(
    '',
    `One worker process leads a cold key (its function sleeps ${fnMs} ms) and is killed with SIGKILL ${r0.killAfterMs} ms into the function: its Redis connections close at once, and nothing of it says goodbye. ` +
      `**waiters**: ${r0.processes} other processes of ${r0.callers} callers each called the key ${r0.callAtMs} ms into the leader's function, so they wait on it when it dies. **arrives after**: the leader alone on its key; one caller of another process calls ${ARRIVE_AFTER_MS} ms after the kill. ` +
      'Times are ms after the kill (the signal sent), on one clock for every process; call -> answer is each call\'s own time. ' +
      `Takeover: what the crash added to the function's time, where a factory run started after the kill: waiters, kill -> last answer - function; arrives after, call -> answer - function (- where every caller was answered by a run of its own that started before the kill). ` +
      'Factory runs: every run of the fleet, counted by an INCR in Redis (the killed leader\'s included), and in brackets those that started after the kill. ' +
      "Each library at its defaults: herdless's lease lasts 10 s (renewed while its holder runs) and records its holder's connection, which a waiter checks every 100 ms; the 2014 design's wait counter never expires, its waiters sleep 1 s twice and then compute; the peers coordinate within a process only (one run per process or per caller), so they never wait on another process. " +
      'The killed workers are forked anew after each strategy (nothing is measured meanwhile).',
    '',
  );
  return lines;
}

/** The tags phase: tagged hits against untagged ones, invalidateTags at 1 and N entries, the re-read after a lost subscriber. */
function tagsSection(tags: NonNullable<Results['tags']>): string[] {
  const lines: string[] = [];
  const us = (v: number) => (Number.isFinite(v) ? String(v) : '-');
  const count = (n: number) => n.toLocaleString('en-US');
  lines.push('## Tags', '');
  if (tags.hits.length) {
    lines.push(`### Hits of tagged entries against untagged ones (goal: within ${Math.round((1 - TAG_HIT_GOAL) * 100)}% of untagged)`, '');
    lines.push('| strategy | callers | untagged hits/s | tags: [] | 1 tag | 5 tags | hit p50 / p99 us: untagged, [], 1, 5 | Redis commands per hit: untagged, [], 1, 5 | from memory | goal |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | --- |');
    const groups = new Map<string, typeof tags.hits>();
    for (const r of tags.hits) groups.set(`${r.strategy}\0${r.callers}`, [...(groups.get(`${r.strategy}\0${r.callers}`) ?? []), r]);
    for (const rows of groups.values()) {
      const [base, ...tagged] = rows;
      const cell = (r: (typeof rows)[number]) => `${r.ratio}x (worst ${r.minRatio}x), ${count(r.opsPerSec)}/s`;
      const share = rows.every((r) => r.memoryHitShare === undefined) ? '-' : rows.map((r) => (r.memoryHitShare === undefined ? '-' : `${Math.round(r.memoryHitShare * 1000) / 10}%`)).join(' / ');
      const goal = base.strategy.startsWith('herdless') ? (hitsMeetGoal(rows) ? 'met' : '**missed**') : '-';
      lines.push(
        `| ${base.strategy} | ${base.callers === 1 ? '1' : `${base.callers}, own keys`} | ${count(base.opsPerSec)} | ${tagged.map(cell).join(' | ')} | ${rows.map((r) => `${us(r.p50Us)} / ${us(r.p99Us)}`).join(', ')} | ${rows.map((r) => commandText(r.commandsPerHit ?? {})).join('; ')} | ${share} | ${goal} |`,
      );
    }
    lines.push(
      '',
      `One worker process; each caller on its own key, one key per caller and variant. A round runs every variant for ${tags.roundMs} ms back to back (untagged, [], 1 tag, 5 tags; each round starts one variant later), ${tags.rounds} rounds; a variant's ratio is the median over rounds of its hits/s over the untagged hits/s of the same round, the worst round in brackets. ` +
        "Untagged: `getOrSet(key, fn)` with no options object; the others pass `{ tags }`, the array built anew for every call as an application builds it from the record (\`product:${i}\`; 5 tags: product, 'catalog', category, brand, 'locale:en'), so its cost is in the figure. " +
        'Redis commands per hit: INFO commandstats around 10 more hits per caller of each variant (commands inside scripts included; herdless\'s channel echo, a PUBLISH a second, may show as a fraction); none: every hit answered from memory. From memory: the share of hits served from memory, untagged / [] / 1 / 5, in one pass after the rounds (herdless-l1, bentocache-l1). The goal is herdless\'s; bentocache is shown side by side, as its docs use tags (a hit reads each of its tags\' keys through the store: from Redis without an L1).',
      '',
    );
  }
  if (tags.invalidation.length) {
    const big = Math.max(...tags.invalidation.map((r) => r.requested));
    lines.push(`### invalidateTags(['big']) with 1 and ${count(big)} entries tagged 'big' (goal: the same cost)`, '');
    lines.push('| strategy | entries | fill | Redis used_memory / keys | p50 / p99 / max us | in turn with a 1-entry tag: p50 us, big / 1-entry | Redis commands per call | SCAN / KEYS / DEL | invalidated still served | other tags still hit | goal |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |');
    for (const r of tags.invalidation) {
      const fill = `${(r.fillMs / 1000).toFixed(r.fillMs < 10_000 ? 2 : 1)} s (${count(r.fillPerSec)}/s)${r.subscriberDropped ? '; the subscriber was dropped' : ''}${r.fillStoppedEarly ? `; stopped: all ${count(r.requested)} would take ${Math.round((r.fillProjectedMs ?? 0) / 1000)} s` : ''}`;
      const pair = tags.invalidation.filter((o) => o.strategy === r.strategy);
      const goal = !r.strategy.startsWith('herdless') ? '-' : r.entries === Math.max(...pair.map((o) => o.entries)) && pair.length > 1 ? (invalidationsMatch(pair) ? 'met' : '**missed**') : '';
      lines.push(
        `| ${r.strategy} | ${count(r.entries)} | ${fill} | ${mb(r.usedMemoryAfter)} / ${count(r.dbSize)} | ${r.p50Us} / ${r.p99Us} / ${r.maxUs} | ${r.interleaved ? `${r.interleaved.p50Us} / ${r.interleaved.oneEntryP50Us}` : '-'} | ${commandText(r.commandsPerCall)} | ${r.scanCalls} / ${r.keysCalls} / ${r.deleteCalls} | ${r.stillServed} of ${r.sampled} | ${r.stillHit} of ${r.untouched} | ${goal} |`,
      );
    }
    lines.push(
      '',
      `The entries are written with the cache's own set (herdless \`set(key, value, { tags: ['big'] })\`, bentocache \`set({ key, value, tags })\`), 2,000 in flight, next to the hits' entries (other tags), which stay; Redis used_memory and DBSIZE after the fill. A fill that would take over 2 minutes stops at 60 s, and the entries written by then are the N measured (the row says so). ` +
        `Then, after 20 unmeasured calls, ${tags.invalidation[0].invalidations} invalidations one after another, each timed; Redis commands per call: INFO commandstats over them (commands run inside scripts included; an echo of herdless's channel, one PUBLISH a second, can add to PUBLISH). ` +
        `With N entries, ${tags.invalidation[0].invalidations} more of 'big' follow, in turn with as many of a tag one entry carries, so both are timed on the same machine at the same time. ` +
        `Goal (herdless): both sizes send the same commands per call, with no SCAN, KEYS, DEL or UNLINK, and p50 of 'big' is within ${INVALIDATION_P50_FACTOR}x of the 1-entry tag's, taken in turn. Invalidated still served: of up to 100 entries tagged big, how many a read still returned (herdless get, bentocache get); other tags still hit: the hits' entries, read with a function that fails.`,
      '',
    );
  }
  if (tags.reread.length) {
    lines.push('### Re-read after the subscriber is killed (herdless)', '');
    lines.push('| strategy | tags | tag-version reads | per tag | passes with reads / all | most in a pass (distinct, batches) | repeated in a pass | resubscribed / echo ms | reads ended / steady ms | GETs per hit before / after | failed |');
    lines.push('| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of tags.reread) {
      if (r.error) {
        lines.push(`| ${r.strategy} | ${r.tags} | could not run: ${pipes(r.error)} | - | - | - | - | - | - | - | - |`);
        continue;
      }
      lines.push(
        `| ${r.strategy} | ${count(r.tags)} + epoch | ${count(r.reads)} | ${r.readsPerTag} | ${r.readPasses} / ${r.passes} | ${count(r.maxReadsPerPass)} (${count(r.maxDistinctPerPass)}, ${r.maxBatchesPerPass}) | ${r.duplicates} | ${num(r.resubscribedAtMs)} / ${num(r.echoAtMs)} | ${num(r.readsEndedAtMs)} / ${r.steady ? num(r.steadyAtMs) : 'never'} | ${r.steadyGetsPerHit} / ${r.getsPerHitAfter} | ${r.failed} |`,
      );
    }
    lines.push(
      '',
      'One entry per tag (key i tagged t:i; every entry also carries the epoch), each hit once the channel is trusted, until a pass over all keys sends no tag-version read (and, with the memory tier, no GET). Then `CLIENT KILL TYPE pubsub` from the admin connection closes the cache\'s subscriber, and every key is hit again, all at once, pass after pass, until a pass like the one before the kill follows one that read. ' +
        'Reads: EVALSHA of the tag-version script, by its sha, from MONITOR, over all passes; per tag: reads / (tags + 1). Most in a pass: its reads, the distinct tags among them, and batches, how many of them read the epoch (reads go out once per tag per turn of the event loop, so a pass whose replies arrive over several turns reads the epoch once per turn). Repeated: reads of a tag already read in the same pass (0 expected). ' +
        'Times are ms after the kill: resubscribed and echo are when Redis saw the SUBSCRIBE and the first PUBLISH after it (the channel\'s echo to itself, which brings its trust back); reads ended: the end of the last pass that read; steady: the end of the pass like the one before the kill.',
      '',
    );
  }
  lines.push('| strategy | how it uses tags here |', '| --- | --- |', ...tags.setups.map((s) => `| ${s.strategy} | \`${pipes(s.setup)}\` |`), '');
  return lines;
}

/** The instrumentation phase: herdless's hits with nothing listening, a no-op subscriber and the OpenTelemetry adapter, side by side. */
function instrumentationSection(result: NonNullable<Results['instrumentation']>): string[] {
  const lines: string[] = [];
  const count = (n: number) => n.toLocaleString('en-US');
  const [base, ...others] = result.variants.map((v) => v.name);
  const otelOn = others.includes('otel');
  lines.push(`## Instrumentation: hits with and without observers (goal: OpenTelemetry on within ${Math.round((1 - OTEL_GOAL) * 100)}%)`, '');
  lines.push(
    `| strategy | callers | ${base} hits/s | ${others.join(' | ')} | hit p50 / p99 us: ${result.variants.map((v) => v.name).join(', ')} |${otelOn ? ' OTel per call: spans / herdless.requests |' : ''} from memory |${otelOn ? ' goal |' : ''}`,
  );
  lines.push(`| --- | ---: | ---: | ${others.map(() => '---:').join(' | ')} | --- |${otelOn ? ' ---: |' : ''} ---: |${otelOn ? ' --- |' : ''}`);
  const groups = new Map<string, typeof result.rows>();
  for (const r of result.rows) groups.set(`${r.strategy}\0${r.callers}`, [...(groups.get(`${r.strategy}\0${r.callers}`) ?? []), r]);
  for (const rows of groups.values()) {
    const [none, ...observed] = rows;
    const otel = rows.find((r) => r.variant === 'otel');
    const cell = (r: (typeof rows)[number]) => `${r.ratio}x (worst ${r.minRatio}x), ${count(r.opsPerSec)}/s`;
    const share = none.memoryHitShare === undefined ? '-' : `${Math.round(none.memoryHitShare * 1000) / 10}%`;
    lines.push(
      `| ${none.strategy} | ${none.callers === 1 ? '1' : `${none.callers}, own keys`} | ${count(none.opsPerSec)} | ${observed.map(cell).join(' | ')} | ${rows.map((r) => `${num(r.p50Us)} / ${num(r.p99Us)}`).join(', ')} |` +
        `${otelOn ? ` ${num(otel?.spansPerCall)} / ${num(otel?.requestsPerCall)} |` : ''} ${share} |${otelOn ? ` ${otel ? (otel.ratio >= OTEL_GOAL ? 'met' : '**missed**') : '-'} |` : ''}`,
    );
  }
  lines.push(
    '',
    `One worker process, each caller on its own key (all variants read the same keys). A round runs every variant for ${result.roundMs} ms back to back (${result.variants.map((v) => v.name).join(', ')}; each round starts one variant later), ${result.rounds} rounds, the variant attached just before its window (after ${result.settleMs} ms of unmeasured calls: the first subscriber to a channel and the last to leave switch its prototype, and V8 recompiles the paths that check it) and detached just after, garbage collected between windows; ` +
      `a variant's ratio is the median over rounds of its hits/s over the hits/s with no subscriber in the same round, the worst round in brackets. ` +
      (otelOn
        ? 'OTel per call: over the calls made while the adapter was on in the rounds (its windows and the settling before them), the spans its tracer provider saw end (a hit makes none) and the calls its herdless.requests counter counted (1 expected), from a collection before and after each window. '
        : 'The OpenTelemetry adapter did not run in this run. ') +
      "From memory: the share of hits served from memory in one pass after the rounds (herdless-l1). The cost of herdless's instrumentation with no subscriber at all (goal: within 1%) is not measured here: it takes herdless without that code, the hits phase on the commit before it (bench/README.md).",
    '',
  );
  lines.push('| variant | setup |', '| --- | --- |', ...result.variants.map((v) => `| ${v.name} | \`${pipes(v.setup)}\` |`), '');
  return lines;
}
