/*
 * One decorator function serves both TypeScript modes; the arguments it receives tell which one compiled
 * the class:
 *   standard (TC39, TypeScript 5 without experimentalDecorators): (value, context), context an object with
 *     a string `kind` ('method', 'getter', 'field', 'class', ...);
 *   legacy (experimentalDecorators): (prototype or constructor, property key, descriptor) for members,
 *     (constructor) for a class; the property key is a string or a symbol, never an object.
 * The two shapes never overlap, so detection is exact.
 */

export type Invocation =
  | { mode: 'standard'; value: unknown; context: DecoratorContext }
  | { mode: 'legacy-member'; target: object; key: string | symbol; descriptor: PropertyDescriptor | undefined }
  | { mode: 'legacy-class'; target: Function }
  | { mode: 'legacy-parameter' }
  | { mode: 'unknown' };

export function detect(args: readonly unknown[]): Invocation {
  const [first, second, third] = args;
  if (args.length === 2 && isContext(second)) return { mode: 'standard', value: first, context: second };
  if (args.length === 3 && typeof third === 'number') return { mode: 'legacy-parameter' };
  if ((typeof second === 'string' || typeof second === 'symbol') && first !== null && (typeof first === 'object' || typeof first === 'function')) {
    return { mode: 'legacy-member', target: first, key: second, descriptor: third as PropertyDescriptor | undefined };
  }
  if (args.length === 1 && typeof first === 'function') return { mode: 'legacy-class', target: first };
  return { mode: 'unknown' };
}

/** True when `args` are what a decorator receives, i.e. a decorator factory was applied without its call. */
export function looksLikeDecoratorCall(args: readonly unknown[]): boolean {
  const invocation = detect(args);
  return invocation.mode === 'standard' || (invocation.mode === 'legacy-member' && args.length === 3);
}

function isContext(value: unknown): value is DecoratorContext {
  return value !== null && typeof value === 'object' && typeof (value as { kind?: unknown }).kind === 'string';
}

/** Words for an error message about where a decorator was put; the same words in both modes. */
export function placement(invocation: Invocation): string {
  switch (invocation.mode) {
    case 'standard': {
      const c = invocation.context;
      if (c.kind === 'class') return 'a class';
      return article(`${'static' in c && c.static ? 'static ' : ''}${c.kind}`);
    }
    case 'legacy-member': {
      const d = invocation.descriptor;
      const isStatic = typeof invocation.target === 'function';
      const kind = d === undefined ? 'field' : d.get ? 'getter' : d.set ? 'setter' : typeof d.value === 'function' ? 'method' : 'field';
      return article(`${isStatic ? 'static ' : ''}${kind}`);
    }
    case 'legacy-class':
      return 'a class';
    case 'legacy-parameter':
      return 'a parameter';
    default:
      return 'something that is not a class member';
  }
}

function article(words: string): string {
  return `${/^[aeiou]/.test(words) ? 'an' : 'a'} ${words}`;
}

/**
 * The decorated member or class for messages: 'UserService.getUser', or 'getUser' with standard member
 * decorators, which are not given their class (only its members' names) while the class is being defined.
 */
export function memberLabel(invocation: Invocation): string | undefined {
  switch (invocation.mode) {
    case 'standard': {
      const { context, value } = invocation;
      if (context.kind === 'class') return context.name ?? (typeof value === 'function' && value.name ? value.name : '(anonymous class)');
      return String(context.name);
    }
    case 'legacy-member': {
      const { target, key } = invocation;
      const owner = typeof target === 'function' ? target : (target as { constructor?: Function }).constructor;
      return `${owner?.name || '(anonymous class)'}.${String(key)}`;
    }
    case 'legacy-class':
      return invocation.target.name || '(anonymous class)';
    default:
      return undefined;
  }
}
