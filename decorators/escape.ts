/*
 * Escaping of the parts of a key. Invariants, relied on by key-format.ts:
 * - an escaped name contains only [A-Za-z0-9_$-] and '%'; an escaped label also '.' and ':';
 *   so neither contains the key's punctuation (/ . @ # ( = ~) nor a brace;
 * - escaping is injective: '%' itself is escaped, a character becomes %XX per UTF-8 byte, and a lone
 *   surrogate (which UTF-8 cannot carry, and Redis would receive as U+FFFD) becomes %uXXXX.
 * Braces never appear raw, so Redis Cluster always takes the whole key as its hash tag.
 */

const NAME_SAFE = /^[A-Za-z0-9_$-]$/;
const LABEL_SAFE = /^[A-Za-z0-9_$\-.:]$/;

/** A class, method or function name: '.' is escaped because it separates class from method. */
export function escapeName(text: string): string {
  return escape(text, NAME_SAFE);
}

/** A namespace, version or instance discriminator: readable dots and colons are kept. */
export function escapeLabel(text: string): string {
  return escape(text, LABEL_SAFE);
}

/** A custom key: only what would break the format or the hash tag is escaped, so it stays readable. */
export function escapeCustom(text: string): string {
  let out = '';
  for (const char of text) {
    if (char === '%' || char === '{' || char === '}') out += percent(char);
    else if (isLoneSurrogate(char)) out += surrogate(char);
    else out += char;
  }
  return out;
}

function escape(text: string, safe: RegExp): string {
  let out = '';
  for (const char of text) {
    if (safe.test(char)) out += char;
    else if (isLoneSurrogate(char)) out += surrogate(char);
    else out += percent(char);
  }
  return out;
}

function percent(char: string): string {
  let out = '';
  for (const byte of Buffer.from(char, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  return out;
}

// `for...of` yields a surrogate pair as one character, so a one-unit surrogate here is a lone one.
function isLoneSurrogate(char: string): boolean {
  if (char.length !== 1) return false;
  const unit = char.charCodeAt(0);
  return unit >= 0xd800 && unit <= 0xdfff;
}

function surrogate(char: string): string {
  return '%u' + char.charCodeAt(0).toString(16).toUpperCase();
}
