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

/**
 * Every script made here, by SHA1. An error Redis raises inside a script names only its SHA and line
 * ("script: <sha>, on @user_script:<line>"); this is how herdless tells which script and command it was.
 * A handful of scripts, each made once per module or per cache (the same source, the same entry).
 */
const bySha = new Map<string, Script>();

export function script(name: string, source: string): Script {
  const trimmed = source.trim() + '\n';
  const made: Script = { name, source: trimmed, sha: createHash('sha1').update(trimmed).digest('hex') };
  bySha.set(made.sha, made);
  return made;
}

/**
 * The script Redis knows by `sha` and the commands its `line` (counted from 1, as Redis does) calls, in
 * upper case; undefined for a script herdless did not make.
 */
export function scriptLine(sha: string, line: number): { name: string; commands: string[] } | undefined {
  const found = bySha.get(sha);
  if (found === undefined) return undefined;
  const text = found.source.split('\n')[line - 1] ?? '';
  const commands = [...text.matchAll(/redis\.p?call\('([A-Za-z|]+)'/g)].map((match) => match[1].toUpperCase());
  return { name: found.name, commands: [...new Set(commands)] };
}

/**
 * The first element of a script's reply when Redis refused one of its publishes: {REFUSED, the reply, the
 * command, Redis' error}. Added by PUBLISHES, removed by the store (evalScript), which reports it.
 */
export const REFUSED = '!herdless:refused';

/**
 * Lua for scripts that publish. Wake-ups and invalidations are sent with pcall, so that a server without
 * sharded pub/sub (SPUBLISH is an unknown command there) still writes and its waiters poll. pcall also
 * swallows an ACL refusal, which would leave the cache's user unaware of a missing permission: publish()
 * notes the first one, and reply() hands it back with the script's reply (see REFUSED).
 */
export const PUBLISHES = `
local refused = false
local function publish(command, channel, message)
  local sent = redis.pcall(command, channel, message)
  if refused or type(sent) ~= 'table' or type(sent.err) ~= 'string' then return end
  local err = sent.err
  if string.find(err, 'NOPERM', 1, true) or string.find(err, 'no permissions', 1, true) or string.find(err, "The user executing the script can't", 1, true) then
    refused = {command, err}
  end
end
local function reply(result)
  if refused then return {'${REFUSED}', result, refused[1], refused[2]} end
  return result
end
`;
