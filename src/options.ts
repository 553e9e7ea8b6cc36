/**
 * What an option's value may be, declared once: the command line parses a flag's text with it, and a checkpoint's
 * stored value is checked with it. An option names itself by its key (camelCase, as in a run's configuration) and
 * its flag follows from the key (`noisePower` is `--noise-power`).
 */

/** The values an option takes: integers or numbers within bounds, or one of a few words. */
export type ValueSpec =
  | { type: 'int'; min: number; max?: number }
  | { type: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { type: 'choice'; choices: readonly string[] };

export interface OptionSpec {
  /** The key in a run's configuration and in the parsed flags. */
  readonly key: string;
  /** The flag's value name in --help: `--classes <n>`. */
  readonly arg: string;
  readonly help: string;
  readonly value: ValueSpec;
  /** The value when the option is not given (undefined: whoever reads it decides). */
  readonly default?: number | string;
}

/** `noisePower` -> `--noise-power`. */
export function flagOf(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** What a value spec accepts, in words: "a positive integer", "a number in [0, 1]", "frequency or exchange". */
export function describeValue(v: ValueSpec): string {
  if (v.type === 'choice') return v.choices.join(' or ');
  const noun = v.type === 'int' ? 'an integer' : 'a number';
  if (v.type === 'int' && v.max === undefined) return v.min === 1 ? 'a positive integer' : `an integer >= ${v.min}`;
  const lo = v.type === 'number' && v.minExclusive ? '(' : '[';
  const hi = v.type === 'number' && v.maxExclusive ? ')' : ']';
  if (v.max === undefined) return v.type === 'number' && v.minExclusive ? `${noun} above ${v.min}` : `${noun} >= ${v.min}`;
  return `${noun} in ${lo}${v.min}, ${v.max}${hi}`;
}

/** Whether a value (from a flag or a file) is one the spec accepts. */
export function valueAccepted(v: ValueSpec, x: unknown): boolean {
  if (v.type === 'choice') return typeof x === 'string' && v.choices.includes(x);
  if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  if (v.type === 'int' && !Number.isSafeInteger(x)) return false;
  const minOk = v.type === 'number' && v.minExclusive ? x > v.min : x >= v.min;
  const maxOk = v.max === undefined || (v.type === 'number' && v.maxExclusive ? x < v.max : x <= v.max);
  return minOk && maxOk;
}

/** A flag's text as the spec's value; throws a RangeError saying what was expected. */
export function parseValue(v: ValueSpec, text: string): number | string {
  const x = v.type === 'choice' ? text : text.trim() === '' || (v.type === 'int' && !/^\s*-?\d+\s*$/.test(text)) ? NaN : Number(text);
  if (!valueAccepted(v, x)) throw new RangeError(`Expected ${describeValue(v)}.`);
  return x;
}
