'use strict';
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const ts = require('typescript');

/*
 * Jest transformer for the tests written with experimentalDecorators (__tests__/decorators-legacy).
 * ts-jest keeps one compiler configuration per Jest project whatever a transform entry's options say, so a
 * second ts-jest entry with tsconfig.legacy.json would silently compile with whichever entry ran first.
 * This transpiles each file on its own with tsconfig.legacy.json's options; types are checked by
 * `tsc -p tsconfig.legacy.json`, which a test in that folder runs.
 */
const CONFIG = join(__dirname, '..', 'tsconfig.legacy.json');

let compilerOptions;
function options() {
  if (!compilerOptions) {
    const parsed = ts.getParsedCommandLineOfConfigFile(CONFIG, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
    compilerOptions = { ...parsed.options, sourceMap: false, inlineSourceMap: true, inlineSources: true, declaration: false, noEmit: false };
  }
  return compilerOptions;
}

module.exports = {
  getCacheKey(source, path, transformOptions) {
    return createHash('sha256')
      .update(source).update('\0').update(path).update('\0').update(readFileSync(CONFIG)).update('\0')
      .update(ts.version).update('\0').update(transformOptions.configString ?? '')
      .digest('hex');
  },
  process(source, path) {
    const { outputText } = ts.transpileModule(source, { compilerOptions: options(), fileName: path });
    return { code: outputText };
  },
};
