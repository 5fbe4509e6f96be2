import type { HerdRow } from '../phases/herd';
import type { Results } from './results';

/*
 * The herd as an SVG: factory runs and p99 latency per strategy, one bar per factory time. Both axes are
 * logarithmic, since runs span 1 to every caller and latency spans the factory time to many seconds.
 * Plain SVG text, so it renders on GitHub and needs no dependency.
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
  out.push(panel(0, 'factory runs (log scale)', rows, strategies, deltas, (r) => r.factoryRuns, (v) => v.toLocaleString('en-US'), 0.5));
  out.push(panel(PANEL_W, 'p99 latency, ms (log scale)', rows, strategies, deltas, (r) => r.p99Ms, (v) => Math.round(v).toLocaleString('en-US'), undefined));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function panel(
  x0: number,
  title: string,
  rows: HerdRow[],
  strategies: string[],
  deltas: number[],
  value: (r: HerdRow) => number,
  label: (v: number) => string,
  floor: number | undefined,
): string {
  const out: string[] = [];
  const values = rows.map(value).filter((v) => v > 0);
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
  // One group of bars per strategy, one bar per factory time.
  const groupW = plotW / strategies.length;
  const barW = Math.min(22, (groupW - 8) / deltas.length);
  strategies.forEach((name, s) => {
    const gx = left + s * groupW;
    if (name.startsWith('herdless')) out.push(`<rect x="${gx + 1}" y="${M.top}" width="${groupW - 2}" height="${plotH}" fill="#eef6ee"/>`);
    const barsX = gx + (groupW - barW * deltas.length) / 2;
    deltas.forEach((d, i) => {
      const row = rows.find((r) => r.strategy === name && r.deltaMs === d);
      if (!row) return;
      const v = value(row);
      const top = y(v);
      const bx = barsX + i * barW;
      out.push(`<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(M.top + plotH - top).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${name}, factory ${d} ms: ${label(v)}</title></rect>`);
      // Value labels stand upright above their bars so neighbours never overlap.
      const lx = bx + (barW - 2) / 2 + 3;
      out.push(`<text x="${lx.toFixed(1)}" y="${(top - 4).toFixed(1)}" font-size="9" fill="#333" transform="rotate(-90 ${lx.toFixed(1)} ${(top - 4).toFixed(1)})">${escape(label(round(v)))}</text>`);
    });
    const lx = gx + groupW / 2;
    const ly = M.top + plotH + 14;
    out.push(`<text x="${lx}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx} ${ly})"${name.startsWith('herdless') ? ' font-weight="bold"' : ''}>${escape(name)}</text>`);
  });
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
