/*
 * Type-level checks of where a decorator is written, shared by @Cached and @CacheEvict.
 *
 * A decorator's type is one call signature that accepts what both TypeScript modes pass it: standard
 * decorators call it with (value, context), experimentalDecorators with (prototype or constructor, key,
 * descriptor), or (class) for a class. With one signature the checker has one candidate and reports one error, not a dump of
 * every overload. The signature's first parameter is the argument itself when the placement is right,
 * and otherwise a sentence naming the mistake, so the error reads "Argument of type ... is not
 * assignable to parameter of type 'herdless: ...'" on the decorator.
 */

/** A mistake's description, shown by the type checker as the type of the parameter the argument missed. */
export type Mistake<Text extends string> = `herdless: ${Text}`;

/** What a decorator is written on, as far as the types tell: 'method' with its type and instance type, or the wrong member. */
export type Member<V, C, D> =
  // Standard decorators: the context says what the member is.
  C extends { kind: 'method'; static: true } ? { kind: 'static' }
  : C extends { kind: 'method'; access: { get(object: infer This): unknown } } ? { kind: 'method'; method: V; instance: This }
  : C extends { kind: 'getter' | 'setter' | 'accessor' } ? { kind: 'accessor' }
  : C extends { kind: 'field' } ? { kind: 'field' }
  : C extends { kind: 'class' } ? { kind: 'class' }
  : // experimentalDecorators: a class decorator gets the class alone; a member decorator gets the
    // constructor for a static member, and no descriptor for a field.
    [C] extends [undefined]
    ? V extends abstract new (...args: any) => unknown ? { kind: 'class' } : { kind: 'unknown' }
  : C extends string | symbol
    ? V extends abstract new (...args: any) => unknown
      ? { kind: 'static' }
      : [D] extends [undefined]
        ? { kind: 'field' }
        : D extends TypedPropertyDescriptor<infer F>
          ? F extends (...args: any) => unknown
            ? { kind: 'method'; method: F; instance: V }
            : { kind: 'accessor' }
          : { kind: 'unknown' }
    : { kind: 'unknown' };

/** What to do instead, per wrong member, in a Placement message. */
export interface Hints {
  static: string;
  accessor: string;
  field: string;
}

/** The mistake of putting `Decorator` on a member that is not an instance method; never for a method. */
export type Placement<M, Decorator extends string, H extends Hints> =
  M extends { kind: 'method' } ? never
  : M extends { kind: 'static' } ? Mistake<`${Decorator} cannot decorate a static method: ${H['static']}`>
  : M extends { kind: 'accessor' } ? Mistake<`${Decorator} cannot decorate a getter, setter or accessor: ${H['accessor']}`>
  : M extends { kind: 'field' } ? Mistake<`${Decorator} cannot decorate a field: ${H['field']}`>
  : M extends { kind: 'class' } ? Mistake<`${Decorator} decorates methods, not a class; to configure a class use @CacheConfig({ cache, namespace, ttl })`>
  : Mistake<`${Decorator} decorates async instance methods`>;

/** `V` where the checks found nothing, else the first mistake: the type a decorator's first parameter takes. */
export type Checked<V, Found> = [Found] extends [never] ? V : Found;
