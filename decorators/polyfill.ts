/*
 * Standard decorators get `context.metadata` only if Symbol.metadata exists when the class is defined
 * (TypeScript's emitted code checks for it); Node 20 lacks it. This module is imported by every module
 * that defines decorators, so it runs before any class using them is evaluated.
 */
const symbols = Symbol as unknown as { metadata?: symbol };
symbols.metadata ??= Symbol('Symbol.metadata');

export const metadataSymbol: symbol = symbols.metadata;
