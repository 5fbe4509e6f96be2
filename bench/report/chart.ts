import type { ExpiryRow } from '../phases/expiry';
import type { HerdRow } from '../phases/herd';
import type { Results } from './results';

/*
 * The herd as an SVG: factory runs and p99 latency per strategy, one bar per factory time. Both axes are
 * logarithmic, since runs span 1 to every caller and latency spans the factory time to many seconds.
 * The expiry phase has a chart of its own in the same style: factory runs (the minimum as a dashed line)
 * and blocked calls per strategy. Plain SVG text, so it renders on GitHub and needs no dependency.
 */
const PANEL_W = 470;
const H = 500;
const M = { left: 70, right: 16, top: 96, bottom: 120 };
const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1'];

export function chart(results: Results): string {
  const rows = results.herd;
  if (rows.length === 0) throw new Error('the results have no herd rows to chart');
  const strategies = [...new Set(rows.map((r) => r.strategy))];
  const deltas = [...new Set(rows.map((r) => r.deltaMs))];
  const { processes, callers } = rows[0];
  const out: string[] = [];
  const width = PANEL_W * 2;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${H}" fill="#ffffff"/>`);
  out.push(text(width / 2, 24, `Herd: ${processes} processes x ${callers} callers on one cold key`, { size: 16, weight: 'bold' }));
  const env = results.environment;
  out.push(text(width / 2, 42, `Node ${env.node}, Redis ${env.redis}, ${env.cores} cores; ${results.mode} run ${results.startedAt.slice(0, 10)}`, { size: 11, fill: '#555' }));
  // Legend: one colour per factory time.
  const legendX = width / 2 - (deltas.length * 110) / 2;
  deltas.forEach((d, i) => {
    out.push(`<rect x="${legendX + i * 110}" y="52" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(text(legendX + i * 110 + 16, 62, `factory ${d} ms`, { anchor: 'start' }));
  });
  const series = deltas.map((d) => `factory ${d} ms`);
  const cell = (value: (r: HerdRow) => number) => (name: string, i: number) => {
    const row = rows.find((r) => r.strategy === name && r.deltaMs === deltas[i]);
    return row && value(row);
  };
  out.push(panel(0, 'factory runs (log scale)', strategies, series, cell((r) => r.factoryRuns), (v) => v.toLocaleString('en-US'), 0.5));
  out.push(panel(PANEL_W, 'p99 latency, ms (log scale)', strategies, series, cell((r) => r.p99Ms), (v) => Math.round(v).toLocaleString('en-US'), undefined));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The expiry phase: fleet-wide factory runs against the minimum, and calls blocked after the first fill. */
export function expiryChart(results: Results): string {
  const rows = results.expiry.filter((r) => !r.error);
  if (rows.length === 0) throw new Error('the results have no expiry rows to chart');
  const strategies = rows.map((r) => r.strategy);
  const { processes, lanes, ttlMs, fnMs, runMs, minimumRuns } = rows[0];
  const out: string[] = [];
  const width = PANEL_W * 2;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${H}" fill="#ffffff"/>`);
  out.push(text(width / 2, 24, `Expiry: ${processes} processes x ${lanes} lanes on one hot key for ${runMs / 1000} s`, { size: 16, weight: 'bold' }));
  const env = results.environment;
  out.push(text(width / 2, 42, `ttl ${ttlMs} ms, function ${fnMs} ms; Node ${env.node}, Redis ${env.redis}, ${env.cores} cores; ${results.mode} run ${results.startedAt.slice(0, 10)}`, { size: 11, fill: '#555' }));
  out.push(`<line x1="${width / 2 - 150}" x2="${width / 2 - 126}" y1="58" y2="58" stroke="#333" stroke-dasharray="5 3"/>`);
  out.push(text(width / 2 - 120, 62, `minimum runs, ceil(run / (ttl + function)) = ${minimumRuns}`, { anchor: 'start' }));
  const cell = (value: (r: ExpiryRow) => number | undefined) => (name: string) => value(rows.find((r) => r.strategy === name)!);
  const minimum = { value: minimumRuns, label: `minimum ${minimumRuns}` };
  out.push(panel(0, 'factory runs (log scale)', strategies, [''], cell((r) => r.factoryRuns), (v) => v.toLocaleString('en-US'), 0.5, minimum));
  out.push(panel(PANEL_W, `calls blocked > ${fnMs / 2} ms (log scale)`, strategies, [''], cell((r) => r.blocked), (v) => v.toLocaleString('en-US'), 0.5));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/**
 * One panel: a group of bars per strategy, one bar per series (factory times in the herd, a single one
 * in the expiry chart), on a log axis; `marker` draws a dashed reference line.
 */
function panel(
  x0: number,
  title: string,
  strategies: string[],
  series: string[],
  cell: (strategy: string, series: number) => number | undefined,
  label: (v: number) => string,
  floor: number | undefined,
  marker?: { value: number; label: string },
): string {
  const out: string[] = [];
  const cells = strategies.flatMap((name) => series.map((_, i) => cell(name, i)));
  const values = [...cells, marker?.value].filter((v): v is number => v !== undefined && v > 0);
  if (values.length === 0) values.push(1); // every bar is 0: still draw an axis from 1
  const lowExp = Math.floor(Math.log10(Math.min(...values)));
  const highExp = Math.max(lowExp + 1, Math.ceil(Math.log10(Math.max(...values) * 1.05)));
  // Bars start below the lowest tick so a value equal to it (1 run) still shows as a bar.
  const bottom = floor ?? 10 ** lowExp;
  const plotW = PANEL_W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const y = (v: number) => M.top + plotH - ((Math.log10(Math.max(v, bottom)) - Math.log10(bottom)) / (highExp - Math.log10(bottom))) * plotH;
  const left = x0 + M.left;
  // Axes, grid and ticks.
  for (let e = Math.ceil(Math.log10(bottom)); e <= highExp; e++) {
    const tick = 10 ** e;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e3e3e3"/>`);
    out.push(text(left - 6, y(tick) + 4, label(tick), { anchor: 'end' }));
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${M.top}" y2="${M.top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${M.top + plotH}" y2="${M.top + plotH}" stroke="#333"/>`);
  out.push(text(x0 + 18, M.top + plotH / 2, title, { rotate: true, weight: 'bold' }));
  out.push(text(left + plotW / 2, H - 12, 'strategy', { weight: 'bold' }));
  // One group of bars per strategy, one bar per series.
  const groupW = plotW / strategies.length;
  const barW = Math.min(22, (groupW - 8) / series.length);
  strategies.forEach((name, s) => {
    const gx = left + s * groupW;
    if (name.startsWith('herdless')) out.push(`<rect x="${gx + 1}" y="${M.top}" width="${groupW - 2}" height="${plotH}" fill="#eef6ee"/>`);
    const barsX = gx + (groupW - barW * series.length) / 2;
    series.forEach((what, i) => {
      const v = cell(name, i);
      if (v === undefined) return;
      const top = y(v);
      const bx = barsX + i * barW;
      out.push(`<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(M.top + plotH - top).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${name}${what ? `, ${what}` : ''}: ${label(v)}</title></rect>`);
      // Value labels stand upright above their bars so neighbours never overlap.
      const lx = bx + (barW - 2) / 2 + 3;
      out.push(`<text x="${lx.toFixed(1)}" y="${(top - 4).toFixed(1)}" font-size="9" fill="#333" transform="rotate(-90 ${lx.toFixed(1)} ${(top - 4).toFixed(1)})">${escape(label(round(v)))}</text>`);
    });
    const lx = gx + groupW / 2;
    const ly = M.top + plotH + 14;
    out.push(`<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx} ${ly})"${name.startsWith('herdless') ? ' font-weight="bold"' : ''}>${escape(name)}</text>`);
  });
  if (marker) {
    const my = y(marker.value).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${my}" y2="${my}" stroke="#333" stroke-dasharray="5 3"><title>${escape(marker.label)}</title></line>`);
  }
  return out.join('\n');
}

function round(v: number): number {
  return v >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
}

function text(x: number, y: number, content: string, o: { anchor?: string; size?: number; weight?: string; fill?: string; rotate?: boolean } = {}): string {
  const attrs = [`x="${x.toFixed(1)}"`, `y="${y.toFixed(1)}"`, `text-anchor="${o.anchor ?? 'middle'}"`];
  if (o.size) attrs.push(`font-size="${o.size}"`);
  if (o.weight) attrs.push(`font-weight="${o.weight}"`);
  if (o.fill) attrs.push(`fill="${o.fill}"`);
  if (o.rotate) attrs.push(`transform="rotate(-90 ${x.toFixed(1)} ${y.toFixed(1)})"`);
  return `<text ${attrs.join(' ')}>${escape(content)}</text>`;
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
