import { writeFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { chart } from './report/chart';
import { markdown } from './report/markdown';
import type { Results } from './report/results';

/** Writes a run's SVG chart and markdown table next to its JSON; both are made from the JSON alone. */
export function render(jsonFile: string): { svg: string | undefined; md: string; table: string } {
  const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as Results;
  const base = jsonFile.replace(/\.json$/, '');
  let svg: string | undefined;
  if (results.herd.length) {
    svg = `${base}.svg`;
    writeFileSync(svg, chart(results));
  }
  // The table links the chart beside it, so it renders wherever the results folder is browsed.
  const table = markdown(results, svg && `./${basename(svg)}`);
  writeFileSync(`${base}.md`, table);
  return { svg, md: `${base}.md`, table };
}

// ts-node --transpile-only bench/render.ts bench/results/<run>.json
if (require.main === module) {
  const file = process.argv[2];
  if (!file?.endsWith('.json')) {
    console.error('usage: ts-node --transpile-only bench/render.ts bench/results/<run>.json');
    process.exit(2);
  }
  const written = render(file);
  console.log(`wrote ${[written.svg, written.md].filter(Boolean).join(', ')}`);
}
