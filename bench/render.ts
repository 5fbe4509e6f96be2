import { writeFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { chart, expiryChart } from './report/chart';
import { markdown } from './report/markdown';
import type { Results } from './report/results';

/**
 * Writes a run's SVG charts (the herd's, the expiry phase's) and markdown table next to its JSON; all are
 * made from the JSON alone.
 */
export function render(jsonFile: string): { svg: string | undefined; expirySvg: string | undefined; md: string; table: string } {
  const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as Results;
  results.expiry ??= []; // runs made before the expiry phase existed
  results.coherence ??= []; // ... and before the coherence phase
  // Hits rows made before the scenarios had keys: each caller had its own key.
  for (const r of results.hits) {
    r.callers ??= r.concurrency;
    r.keys ??= r.concurrency;
  }
  const base = jsonFile.replace(/\.json$/, '');
  let svg: string | undefined;
  let expirySvg: string | undefined;
  if (results.herd.length) {
    svg = `${base}.svg`;
    writeFileSync(svg, chart(results));
  }
  if (results.expiry.some((r) => !r.error)) {
    expirySvg = `${base}.expiry.svg`;
    writeFileSync(expirySvg, expiryChart(results));
  }
  // The table links the charts beside it, so they render wherever the results folder is browsed.
  const table = markdown(results, svg && `./${basename(svg)}`, expirySvg && `./${basename(expirySvg)}`);
  writeFileSync(`${base}.md`, table);
  return { svg, expirySvg, md: `${base}.md`, table };
}

// ts-node --transpile-only bench/render.ts bench/results/<run>.json
if (require.main === module) {
  const file = process.argv[2];
  if (!file?.endsWith('.json')) {
    console.error('usage: ts-node --transpile-only bench/render.ts bench/results/<run>.json');
    process.exit(2);
  }
  const written = render(file);
  console.log(`wrote ${[written.svg, written.expirySvg, written.md].filter(Boolean).join(', ')}`);
}
