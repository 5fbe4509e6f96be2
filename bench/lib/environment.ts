import { readFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Environment {
  node: string;
  redis: string;
  cores: number;
  cpu: string;
  memoryGiB: number;
  os: string;
  /** 1, 5 and 15 minute load averages when the run ended: other work on the machine skews timings. */
  loadAverage: number[];
  herdless: string;
  packages: Record<string, string>;
}

/** Where the numbers came from: versions of everything measured, and the machine. */
export function environment(redisVersion: string, packages: readonly string[]): Environment {
  const root = join(__dirname, '..', '..');
  const version = (dir: string) => {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version as string;
    } catch {
      return 'not installed';
    }
  };
  return {
    node: process.version,
    redis: redisVersion,
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    herdless: version(root),
    packages: Object.fromEntries([...new Set(packages)].sort().map((name) => [name, version(join(root, 'node_modules', name))])),
  };
}
