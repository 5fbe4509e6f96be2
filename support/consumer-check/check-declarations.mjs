// Lists every module the published declarations name and fails when one is neither relative, a Node.js
// built-in, nor a package the published package.json declares (dependencies, peerDependencies). Under a
// linked (pnpm-like) install a consumer's compiler sees only those, so any other name fails its type check.
//
//   node check-declarations.mjs <unpacked package directory>
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: node check-declarations.mjs <unpacked package directory>');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const declared = new Set([...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.peerDependencies ?? {})]);
const builtins = new Set(builtinModules);

const PATTERNS = [
  /\bimport\(\s*["']([^"']+)["']\s*\)/g, // import("x").T, as inferred types are written
  /\bfrom\s*["']([^"']+)["']/g, // import ... from 'x', export ... from 'x'
  /\bimport\s*["']([^"']+)["']/g, // import 'x'
  /\brequire\(\s*["']([^"']+)["']\s*\)/g, // import x = require('x')
  /\bdeclare\s+module\s+["']([^"']+)["']/g, // augmentations
  /\/\/\/\s*<reference\s+types\s*=\s*["']([^"']+)["']/g,
];

function declarationFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : declarationFiles(path);
    return /\.d\.[cm]?ts$/.test(entry.name) ? [path] : [];
  });
}

/** Why `specifier` may not appear in a published declaration, or undefined when it may. */
function problem(specifier) {
  if (specifier.startsWith('.')) return undefined;
  if (specifier.startsWith('node:') || builtins.has(specifier) || specifier === 'node') return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  if (!declared.has(name)) return `'${name}' is not a dependency of ${manifest.name}`;
  if (name !== specifier) return `a path inside '${name}' (only what the package exports is stable)`;
  return undefined;
}

const seen = new Map(); // specifier -> files naming it
const failures = [];
for (const file of declarationFiles(root)) {
  // Comments hold no module references a compiler follows (TSDoc examples import 'herdless' itself), but
  // `/// <reference types>` does: block comments are blanked, line numbers kept.
  const text = blankBlockComments(readFileSync(file, 'utf8'));
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    for (const pattern of PATTERNS) {
      for (const [, specifier] of line.matchAll(pattern)) {
        const where = `${relative(root, file)}:${index + 1}`;
        if (!specifier.startsWith('.')) seen.set(specifier, [...(seen.get(specifier) ?? []), where]);
        const why = problem(specifier);
        if (why) failures.push(`${where}: '${specifier}': ${why}`);
      }
    }
  });
}

console.log(`declarations of ${manifest.name}@${manifest.version} name these modules besides their own files:`);
for (const [specifier, files] of [...seen].sort()) console.log(`  ${specifier}  (${files.length}: ${files.slice(0, 3).join(', ')}${files.length > 3 ? ', ...' : ''})`);
if (failures.length > 0) {
  console.error(`\n${failures.length} reference(s) a consumer's compiler may not find:`);
  for (const failure of failures) console.error(`  ${failure}`);
  process.exit(1);
}

/** `text` with every block comment's characters but its newlines replaced by spaces. */
function blankBlockComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, ' '));
}
