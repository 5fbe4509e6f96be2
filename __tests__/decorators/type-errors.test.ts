import { join } from 'node:path';
import ts from 'typescript';

/*
 * The type errors a mistake produces, in both TypeScript decorator modes. Each `@ts-expect-error` below
 * carries the text its error must contain (and, in brackets, the code the error must point at). The
 * snippet is compiled with the directives disabled: every marked line must have an error, its first
 * error must contain that text and be a single explanation (no dump of every overload), and no other
 * line may have an error.
 */
const SNIPPET = String.raw`
import { Cached, cached, CacheEvict } from '../../decorators';

// A function expression is typed after the options: a mistake in the options is still reported there.
// @ts-expect-error [ttl] Type '"5 minutes"' is not assignable to type 'Duration | undefined'
export const byTtl = cached(async function f(x: number) { return x; }, { ttl: '5 minutes' });
// @ts-expect-error [(x: string) => x] is not assignable to type 'string | KeyFunction<[x: number]> | undefined'
export const byKey = cached(async function f(x: number) { return x; }, { key: (x: string) => x });
export const fine = cached(async function f(x: number) { return x; }, { key: (x: number) => String(x), ttl: '1m' });
// @ts-expect-error [(x: string) => [x]] is not assignable to type 'readonly string[] | TagsFunction<[x: number]> | undefined'
export const byTags = cached(async function f(x: number) { return x; }, { tags: (x: string) => [x] });
export const tagged = cached(async function f(x: number) { return x; }, { tags: (x: number) => [String(x)] });

export class Service {
  @Cached()
  async get(id: string): Promise<string> {
    return id;
  }

  syncHelper(id: string): string {
    return id;
  }

  // @ts-expect-error [Cached] herdless: @Cached must be called: write @Cached()
  @Cached
  async bare(): Promise<number> {
    return 1;
  }

  // @ts-expect-error herdless: @Cached must decorate an async method (returning a Promise)
  @Cached()
  add(a: number, b: number): number {
    return a + b;
  }

  // @ts-expect-error herdless: @Cached cannot decorate a getter
  @Cached()
  get total(): Promise<number> {
    return Promise.resolve(1);
  }

  // @ts-expect-error herdless: @Cached cannot decorate a static method
  @Cached()
  static async load(): Promise<number> {
    return 1;
  }

  // @ts-expect-error herdless: @Cached cannot decorate a field
  @Cached()
  field = async () => 1;

  // @ts-expect-error herdless: @Cached's key function must take the method's leading parameters
  @Cached('1m', (id: number) => String(id))
  async keyed(id: string): Promise<string> {
    return id;
  }

  // @ts-expect-error herdless: @Cached's tags function must take the method's leading parameters
  @Cached({ tags: (id: number) => [String(id)] })
  async mistagged(id: string): Promise<string> {
    return id;
  }

  @Cached({ tags: (id: string) => [id], key: (id: string) => id })
  async tagged(id: string, _page?: number): Promise<string> {
    return id;
  }

  // @ts-expect-error herdless: @Cached's instanceKey must take an instance of the class that declares the method
  @Cached({ instanceKey: (self: { region: string }) => self.region })
  async regional(id: string): Promise<string> {
    return id;
  }

  // @ts-expect-error [ttl] Type '"soon"' is not assignable to type 'Duration | undefined'
  @Cached({ ttl: 'soon' })
  async soon(): Promise<number> {
    return 1;
  }

  // @ts-expect-error [grace] Type '"an hour"' is not assignable to type
  @Cached({ ttl: '1m', grace: 'an hour' })
  async graceful(): Promise<number> {
    return 1;
  }

  @Cached({ ttl: '1m', grace: '1h', earlyRefresh: 2, softTimeout: '100ms', hardTimeout: '10s', refreshBackoff: '30s' })
  async fresh(): Promise<number> {
    return 1;
  }

  // @ts-expect-error herdless: @CacheEvict names 'getUsr', which is not a public method of this class
  @CacheEvict('getUsr')
  async typo(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict names 'syncHelper', which is not an async method of this class
  @CacheEvict('syncHelper')
  async evictSync(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict: 'get' does not take the arguments the mapping returns
  @CacheEvict('get', (id: string) => [id.length])
  async mapped(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict: 'get' does not take this method's arguments; map them
  @CacheEvict('get')
  async unmapped(id: number): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict's tags function must take the method's leading parameters
  @CacheEvict({ tags: (id: number) => [String(id)] })
  async mistag(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict needs the method(s) to evict or the tags to invalidate
  @CacheEvict({ when: 'after' })
  async evictNothing(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict's args mapping maps to the evicted methods' arguments
  @CacheEvict({ tags: ['catalog'], args: (id: string) => [id] })
  async mapNothing(id: string): Promise<void> {}

  @CacheEvict({ tags: (id: string) => [id] })
  async retag(id: string, name: string): Promise<void> {}

  @CacheEvict({ method: 'get', tags: ['catalog'], when: 'before' })
  async both(id: string): Promise<void> {}

  // @ts-expect-error herdless: @CacheEvict must decorate an async method (returning a Promise)
  @CacheEvict('get')
  update(id: string): void {}

  // @ts-expect-error [CacheEvict] herdless: @CacheEvict must be called with the method(s) to evict
  @CacheEvict
  async bareEvict(id: string): Promise<void> {}
}
`;

interface Expectation {
  line: number;
  at?: string;
  text: string;
}

function expectations(source: string): Expectation[] {
  const found: Expectation[] = [];
  source.split('\n').forEach((text, index) => {
    const match = /\/\/ @ts-expect-error (?:\[(.+?)\] )?(.+)$/.exec(text);
    // The error is on the line after the directive (0-based index + 1).
    if (match) found.push({ line: index + 1, at: match[1], text: match[2]! });
  });
  return found;
}

function diagnose(mode: 'standard' | 'legacy', source: string): { line: number; at: string; message: string }[] {
  const root = join(__dirname, '..', '..');
  const config = join(root, mode === 'standard' ? 'tsconfig.json' : 'tsconfig.legacy.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined })!;
  const options: ts.CompilerOptions = { ...parsed.options, types: ['node'], noEmit: true };
  const file = join(__dirname, `type-errors.snippet.${mode}.ts`);
  // The directives are disabled so that the errors they would silence are reported.
  const text = source.replaceAll('// @ts-expect-error', '// expect-error');
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, text, language) : getSourceFile.call(host, name, language, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? text : readFile.call(host, name));
  const program = ts.createProgram({ rootNames: [file], options, host });
  const sourceFile = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, sourceFile).map((d) => ({
    line: sourceFile.getLineAndCharacterOfPosition(d.start!).line,
    at: text.slice(d.start!, d.start! + d.length!),
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

describe.each(['standard', 'legacy'] as const)('type errors with %s decorators', (mode) => {
  const expected = expectations(SNIPPET);
  let diagnostics: ReturnType<typeof diagnose>;
  beforeAll(() => {
    diagnostics = diagnose(mode, SNIPPET);
  }, 120_000);

  test('only the marked lines have errors', () => {
    const lines = (list: { line: number }[]) => [...new Set(list.map((d) => d.line + 1))].sort((a, b) => a - b);
    expect(lines(diagnostics)).toEqual(lines(expected));
  });

  test.each(expected.map((e) => [e.text, e] as const))('the first error names the mistake: %s', (_text, expectation) => {
    const first = diagnostics.find((d) => d.line === expectation.line);
    expect(first).toBeDefined();
    expect(first!.message).toContain(expectation.text);
    expect(first!.message).not.toMatch(/No overload matches|Overload \d of \d/);
    if (expectation.at !== undefined) expect(first!.at.startsWith(expectation.at)).toBe(true);
  });
});
