/*
 * Why V8 serialization is the default codec: encode+decode throughput and size against JSON (which loses
 * types) and against JSON with a type-tagging replacer/reviver (the usual way to keep Dates, Maps, BigInt
 * in JSON). Run: npx ts-node --transpile-only bench/codec-choice.ts
 */
import { deserialize, serialize } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { v8Codec as herdlessDefault } from '../src/codec/v8';

type Codec = { encode(value: unknown): Buffer; decode(bytes: Buffer): unknown };

const v8: Codec = { encode: (v) => serialize(v), decode: (b) => deserialize(b) };
const json: Codec = { encode: (v) => Buffer.from(JSON.stringify(v)), decode: (b) => JSON.parse(b.toString()) };

// Tagged JSON: every Date, Map, Set, BigInt becomes { $t, v } and is revived on read.
function replacer(this: Record<string, unknown>, key: string, value: unknown) {
  const raw = this[key];
  if (raw instanceof Date) return { $t: 'Date', v: raw.toISOString() };
  if (raw instanceof Map) return { $t: 'Map', v: [...raw] };
  if (raw instanceof Set) return { $t: 'Set', v: [...raw] };
  if (typeof raw === 'bigint') return { $t: 'BigInt', v: raw.toString() };
  return value;
}
function reviver(_key: string, value: any) {
  if (value && typeof value === 'object' && typeof value.$t === 'string') {
    if (value.$t === 'Date') return new Date(value.v);
    if (value.$t === 'Map') return new Map(value.v);
    if (value.$t === 'Set') return new Set(value.v);
    if (value.$t === 'BigInt') return BigInt(value.v);
  }
  return value;
}
const tagged: Codec = { encode: (v) => Buffer.from(JSON.stringify(v, replacer)), decode: (b) => JSON.parse(b.toString(), reviver) };

const profile = {
  id: 12345,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  createdAt: new Date('2024-05-01T10:00:00Z'),
  roles: ['admin', 'editor'],
  settings: { theme: 'dark', locale: 'en-GB', notifications: { email: true, sms: false } },
  balance: 1234.56,
};
const report = {
  generatedAt: new Date(),
  rows: Array.from({ length: 1_000 }, (_, i) => ({ id: i, sku: `SKU-${i}`, price: i * 1.25, qty: i % 17, day: new Date(1_700_000_000_000 + i * 86_400_000), tags: ['a', 'b'] })),
};

function measure(codec: Codec, value: unknown, ms = 1_000) {
  const bytes = codec.encode(value);
  for (let i = 0; i < 200; i++) codec.decode(codec.encode(value));
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    codec.decode(codec.encode(value));
    ops++;
  }
  return { opsPerSec: Math.round(ops / ((performance.now() - start) / 1000)), bytes: bytes.length };
}

const rows: string[] = ['| value | codec | encode+decode / s | bytes | types kept |', '|---|---|---:|---:|---|'];
for (const [label, value] of [['profile (7 fields, a Date)', profile], ['report (1,000 rows, 1,001 Dates)', report]] as const) {
  for (const [name, codec, keeps] of [['v8', v8, 'yes'], ['JSON', json, 'no (Dates become strings)'], ['tagged JSON', tagged, 'Date/Map/Set/BigInt only']] as const) {
    const { opsPerSec, bytes } = measure(codec, value);
    rows.push(`| ${label} | ${name} | ${opsPerSec.toLocaleString('en-US')} | ${bytes.toLocaleString('en-US')} | ${keeps} |`);
  }
}
console.log(`Node ${process.version}\n`);
console.log(rows.join('\n'));

// The default codec decides per value: JSON text for JSON-exact values, V8 for the rest. Decode-only cost,
// which is what every cache hit pays.

function decodeCost(value: unknown, ms = 1_000) {
  const bytes = herdlessDefault.encode(value);
  for (let i = 0; i < 2_000; i++) herdlessDefault.decode(bytes);
  let ops = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    herdlessDefault.decode(bytes);
    ops++;
  }
  return { us: ((performance.now() - start) * 1000) / ops, stored: bytes[0] === 0xff ? 'V8' : 'JSON text' };
}

const decodeRows = ['| value | stored as | decode µs |', '|---|---|---:|'];
const { createdAt, ...jsonProfile } = profile;
for (const [label, value] of [['profile without its Date', { ...jsonProfile, createdAt: createdAt.toISOString() }], ['profile with its Date', profile]] as const) {
  const { us, stored } = decodeCost(value);
  decodeRows.push(`| ${label} | ${stored} | ${us.toFixed(2)} |`);
}
console.log('\nDefault codec (decode only):\n');
console.log(decodeRows.join('\n'));
