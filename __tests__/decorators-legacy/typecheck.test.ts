import { join } from 'node:path';
import ts from 'typescript';

// Jest only transpiles this folder, so the legacy-mode types (the @ts-expect-error lines in fixtures.ts
// included) are checked here, as `tsc --noEmit -p tsconfig.legacy.json` would.
test('the legacy-decorator project type-checks with experimentalDecorators and emitDecoratorMetadata', () => {
  const config = join(__dirname, '..', '..', 'tsconfig.legacy.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  expect(parsed?.options.experimentalDecorators).toBe(true);
  expect(parsed?.fileNames.some((f) => f.endsWith('__tests__/decorators-legacy/fixtures.ts'))).toBe(true);
  const program = ts.createProgram({ rootNames: parsed!.fileNames, options: { ...parsed!.options, noEmit: true } });
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
  expect(problems).toEqual([]);
  // A whole-program check: seconds of CPU, more on a busy two-core machine.
}, 180_000);
