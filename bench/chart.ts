import { readFileSync, writeFileSync } from 'node:fs';
import { chart } from './report/chart';
import type { Results } from './report/results';

/** Regenerates a run's SVG chart from its JSON: ts-node bench/chart.ts bench/results/<run>.json */
if (require.main === module) {
  const file = process.argv[2];
  if (!file?.endsWith('.json')) {
    console.error('usage: ts-node --transpile-only bench/chart.ts bench/results/<run>.json');
    process.exit(2);
  }
  const svg = file.replace(/\.json$/, '.svg');
  writeFileSync(svg, chart(JSON.parse(readFileSync(file, 'utf8')) as Results));
  console.log(`wrote ${svg}`);
}
