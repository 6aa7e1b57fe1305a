import { inspect } from 'node:util';

const HIDDEN = '(sensitive)';

/**
 * Holds a secret (password, passphrase, private key) so that every accidental
 * way of printing it — template strings, JSON.stringify, console.log,
 * util.inspect, winston metadata — shows `(sensitive)` instead. Only an
 * explicit `reveal()` at the point of use (the SSH handshake, a file write)
 * gets the value.
 */
export class Sensitive<T> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return HIDDEN;
  }

  toJSON(): string {
    return HIDDEN;
  }

  [inspect.custom](): string {
    return HIDDEN;
  }

  [Symbol.toPrimitive](): string {
    return HIDDEN;
  }
}

/** Unwrap a value that may or may not be wrapped. */
export function reveal<T>(v: T | Sensitive<T>): T;
export function reveal<T>(v: T | Sensitive<T> | undefined): T | undefined;
export function reveal<T>(v: T | Sensitive<T> | undefined): T | undefined {
  return v instanceof Sensitive ? v.reveal() : v;
}
