import { createHash } from 'node:crypto';

/**
 * A Lua script is data: its source and the SHA1 Redis knows it by. Scripts receive every key they touch in
 * KEYS (never names built from ARGV), and the cache passes only keys sharing one hash tag, so each script
 * runs on the one node that owns that slot, standalone or in Redis Cluster.
 */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function script(name: string, source: string): Script {
  const trimmed = source.trim() + '\n';
  return { name, source: trimmed, sha: createHash('sha1').update(trimmed).digest('hex') };
}
