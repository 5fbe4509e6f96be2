import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { bounded, sleep } from '../lib/time';
import type { CacheUnderTest } from '../strategies/strategy';
import { HIT_VALUE } from './hits';

export interface MissRequest {
  url: string;
  /** Timed leader misses, each on a fresh key. */
  samples: number;
  /** Misses made under MONITOR to count round trips. */
  probes: number;
}

export interface MissResult {
  latenciesUs: number[];
  /** Commands sent by the client per miss (each a round trip unless pipelined). */
  roundTrips: number;
  /** Commands Redis ran inside scripts per miss. */
  scriptCommands: number;
  /** Top-level commands seen across the probes, by name. */
  commands: Record<string, number>;
}

export type Miss = (key: string) => Promise<unknown>;

/** The least a miss can cost: GET finds nothing, SET stores the value. */
export async function minimumMiss(url: string): Promise<{ miss: Miss; close(): Promise<void> }> {
  const client = createClient({ url });
  await client.connect();
  return {
    async miss(key) {
      await client.get(`min:${key}`);
      await client.set(`min:${key}`, JSON.stringify(HIT_VALUE), { PX: 60_000 });
      return HIT_VALUE;
    },
    close: () => client.quit().then(() => undefined),
  };
}

export function cacheMiss(cache: CacheUnderTest): Miss {
  return (key) => cache.getOrSet(key, async () => HIT_VALUE);
}

/**
 * A leader's miss with a factory of 0 ms against the minimum, sample by sample in alternating order, so
 * both see the same machine; then round trips, counted by MONITOR.
 */
export async function miss(run: Miss, minimum: Miss, request: MissRequest): Promise<{ cache: MissResult; minimum: MissResult }> {
  const tag = `${process.pid}:${Date.now()}`;
  for (let i = 0; i < 50; i++) {
    await run(`miss:warm:${tag}:${i}`);
    await minimum(`miss:warm:${tag}:${i}`);
  }
  const times = { cache: [] as number[], minimum: [] as number[] };
  for (let i = 0; i < request.samples; i++) {
    const order = i % 2 === 0 ? (['cache', 'minimum'] as const) : (['minimum', 'cache'] as const);
    for (const side of order) {
      const started = performance.now();
      await (side === 'cache' ? run : minimum)(`miss:${tag}:${i}`);
      times[side].push((performance.now() - started) * 1000);
    }
  }
  const counted = async (which: Miss, name: string): Promise<MissResult> => {
    const seen = await monitored(request.url, async () => {
      for (let i = 0; i < request.probes; i++) await which(`miss:probe:${name}:${tag}:${i}`);
    });
    return {
      latenciesUs: times[name as 'cache' | 'minimum'],
      roundTrips: seen.topLevel / request.probes,
      scriptCommands: seen.inScripts / request.probes,
      commands: seen.byName,
    };
  };
  return { cache: await counted(run, 'cache'), minimum: await counted(minimum, 'minimum') };
}

/**
 * Counts the commands Redis runs while `work` runs: top-level ones (one per request a client sent), and
 * those run by scripts ('lua'). Speaks MONITOR over a plain socket, one status line per command.
 */
async function monitored(url: string, work: () => Promise<void>) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const counted = { topLevel: 0, inScripts: 0, byName: {} as Record<string, number> };
  let buffered = '';
  let listening = false;
  let confirmed!: () => void;
  const started = new Promise<void>((resolve) => (confirmed = resolve));
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let end: number;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (line === '+OK') {
        listening = true;
        confirmed();
      } else if (listening && line.startsWith('+')) {
        if (/^\+\S+ \[\d+ lua\]/.test(line)) counted.inScripts++;
        else {
          counted.topLevel++;
          const name = (/"([^"]+)"/.exec(line)?.[1] ?? '?').toLowerCase();
          counted.byName[name] = (counted.byName[name] ?? 0) + 1;
        }
      }
    }
  });
  socket.write('MONITOR\r\n');
  await bounded(started, 5000, 'MONITOR');
  await work();
  // MONITOR output trails the replies; give it a moment to arrive.
  await sleep(200);
  listening = false;
  socket.destroy();
  return counted;
}
