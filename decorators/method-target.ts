import type { Cache } from '../src/cache';
import { InvalidOptionError } from '../src/errors';
import type { FreshnessOptions as CallOptions } from '../src/options';
import { classConfig, classFreshness } from './class-config';
import { getDefaultCache } from './default-cache';
import { DecoratorUsageError, NoCacheError } from './errors';
import { formatHead, formatInstance } from './key-format';
import type { Normalized } from './options';
import { metadataSymbol } from './polyfill';
import { fixedTags, type Target } from './target';

/** How to find the class that declares a method: known at once in legacy mode, found from an instance in standard mode. */
export interface Declaration {
  owner?: Function;
  /** The declaring class's context.metadata (standard mode): the class whose Symbol.metadata is this object. */
  metadata?: object;
  /** The function installed on the prototype, to recognise the declaring prototype without metadata. */
  wrapper?: Function;
}

/**
 * A decorated method. The key names the class that declares the method (not the instance's subclass), so
 * every subclass and every process agrees on it. The class-dependent parts (name, @CacheConfig) are read
 * once the class is known and kept: a class's decorators have all run by then.
 */
export class MethodTarget implements Target {
  private owner: Function | undefined;
  private fixed: { head: string; label: string; tags: readonly string[]; cache?: Cache; call?: CallOptions } | undefined;

  constructor(
    /** The property the method is installed under on the prototype. */
    private readonly property: string | symbol,
    /** Its name in keys and messages: the `name` option, else the property. */
    private readonly method: string,
    readonly options: Normalized,
    private readonly declaration: Declaration,
  ) {
    this.owner = declaration.owner;
  }

  /** Standard mode runs this when an instance is constructed, so invalidate(instance.method) works before any call. */
  resolve(self: unknown): void {
    if (!this.owner) this.owner = this.find(self);
  }

  label(self?: unknown): string {
    const owner = this.owner ?? this.find(self);
    return `${owner ? this.className(owner) : '(unknown class)'}.${this.method}`;
  }

  head(self: unknown): string {
    const head = this.settled(self).head;
    const instanceKey = this.options.instanceKey;
    if (!instanceKey) return head;
    const label = this.fixed!.label;
    if (self === null || (typeof self !== 'object' && typeof self !== 'function')) {
      throw new DecoratorUsageError(
        `${label} keys per instance (instanceKey), but was called without one; call it on an instance, and to evict use invalidate(instance, '${String(this.property)}', ...args)`,
      );
    }
    const instance = instanceKey(self);
    if (!((typeof instance === 'string' && instance !== '') || (typeof instance === 'number' && Number.isFinite(instance)))) {
      throw new InvalidOptionError('instanceKey', instance, 'a string', `herdless: the instanceKey of ${label} returned ${String(instance)}; it must return a non-empty string or a finite number`);
    }
    return head + formatInstance(String(instance));
  }

  /** From the head without the instance part: every instance's entries share it. */
  ownTag(self?: unknown): string {
    return this.settled(self).tags[0];
  }

  tags(self?: unknown): readonly string[] {
    return this.settled(self).tags;
  }

  cache(self?: unknown): Cache {
    if (this.options.cache) return this.options.cache;
    const fixed = this.settled(self);
    const cache = fixed.cache ?? getDefaultCache();
    if (!cache) throw new NoCacheError(fixed.label, true);
    return cache;
  }

  callOptions(self?: unknown): CallOptions | undefined {
    return this.settled(self).call;
  }

  private settled(self: unknown): NonNullable<MethodTarget['fixed']> {
    if (this.fixed) return this.fixed;
    this.resolve(self);
    const owner = this.owner;
    if (!owner) {
      throw new DecoratorUsageError(
        `cannot tell which class declares the cached method '${this.method}': it was used before any instance of its class ` +
          `was created and without one; create the instance first, or pass it: invalidate(instance, '${String(this.property)}', ...args)`,
      );
    }
    const config = classConfig(owner);
    const className = this.className(owner);
    const inherited = classFreshness(config);
    const call = inherited || this.options.call ? Object.freeze({ ...inherited, ...this.options.call }) : undefined;
    const head = formatHead({ namespace: this.options.namespace ?? config.namespace, className, name: this.method, version: this.options.version });
    this.fixed = {
      head,
      label: `${className}.${this.method}`,
      tags: fixedTags(head, this.options),
      cache: config.cache,
      call,
    };
    return this.fixed;
  }

  private className(owner: Function): string {
    const name = classConfig(owner).name ?? owner.name;
    if (!name) throw new DecoratorUsageError(`a class without a name declares the cached method '${this.method}'; name it with @CacheConfig({ name: 'Orders' })`);
    return name;
  }

  /** The declaring class: the constructor on `self`'s prototype chain whose metadata or prototype holds this method. */
  private find(self: unknown): Function | undefined {
    if (self === null || (typeof self !== 'object' && typeof self !== 'function')) return undefined;
    const { metadata, wrapper } = this.declaration;
    for (let p = Object.getPrototypeOf(self) as object | null; p !== null; p = Object.getPrototypeOf(p)) {
      const ctor = Object.hasOwn(p, 'constructor') ? (p as { constructor: unknown }).constructor : undefined;
      if (typeof ctor !== 'function') continue;
      if (metadata !== undefined && Object.hasOwn(ctor, metadataSymbol) && (ctor as unknown as Record<symbol, unknown>)[metadataSymbol] === metadata) return ctor;
      if (wrapper !== undefined && Object.getOwnPropertyDescriptor(p, this.property)?.value === wrapper) return ctor;
    }
    return undefined;
  }
}
