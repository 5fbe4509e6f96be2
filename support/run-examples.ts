import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/*
 * `npm run examples`: runs every example under examples/, one after another, each in its own process with
 * ts-node, and fails if any fails (or hangs). Not run here: stampede-demo.ts (it has `npm run demo`) and
 * *-worker.ts files, which their example forks. Files named *.legacy.ts and the applications in
 * folders of their own (APPS: Nest's decorators need experimentalDecorators) use tsconfig.legacy.json;
 * the others standard decorators (tsconfig.json). Each example starts its own Redis unless REDIS_URL is set.
 */
const ROOT = join(__dirname, '..');
const EXAMPLES = join(ROOT, 'examples');
const HANG_MS = 120_000;

// Applications of several files, each started by its main.ts.
const APPS = ['nestjs/main.ts'];

function examples(): string[] {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.ts') && f !== 'stampede-demo.ts' && !f.endsWith('-worker.ts'));
  return [...files.sort(), ...APPS];
}

function run(file: string): Promise<number | string> {
  const legacy = file.endsWith('.legacy.ts') || APPS.includes(file);
  const project = join(ROOT, legacy ? 'tsconfig.legacy.json' : 'tsconfig.json');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', join(EXAMPLES, file)], {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: project },
      stdio: 'inherit',
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), HANG_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(signal ?? code ?? 1);
    });
  });
}

async function main(): Promise<void> {
  const failed: string[] = [];
  for (const file of examples()) {
    console.log(`\n=== examples/${file}\n`);
    const outcome = await run(file);
    if (outcome !== 0) failed.push(`${file} (${outcome})`);
  }
  console.log(failed.length === 0 ? '\nAll examples passed.' : `\nFailed examples: ${failed.join(', ')}`);
  if (failed.length > 0) process.exitCode = 1;
}

void main();
