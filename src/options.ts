/**
 * What an option's value may be, declared once: the command line parses a flag's text with it, and a checkpoint's
 * stored value is checked with it. An option names itself by its key (camelCase, as in a run's configuration) and
 * its flag follows from the key (`noisePower` is `--noise-power`).
 */

/**
 * The values an option takes: integers or numbers within bounds (`auto`: the word 'auto' too), one of a few words,
 * any text (a file's name), or a switch without a value (`negatable`: with a `--no-` form that turns it off).
 */
export type ValueSpec =
  | { type: 'int'; min: number; max?: number; auto?: boolean }
  | { type: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { type: 'choice'; choices: readonly string[] }
  | { type: 'text' }
  | { type: 'switch'; negatable?: boolean };

export interface OptionSpec {
  /** The key in a run's configuration and in the parsed flags. */
  readonly key: string;
  /** The flag's value name in --help (`<n>`); none for a switch. */
  readonly arg?: string;
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
  if (v.type === 'text') return 'a text';
  if (v.type === 'switch') return 'a boolean';
  const noun = v.type === 'int' ? 'an integer' : 'a number';
  const lo = v.type === 'number' && v.minExclusive ? '(' : '[';
  const hi = v.type === 'number' && v.maxExclusive ? ')' : ']';
  let words: string;
  if (v.max !== undefined) words = v.type === 'int' ? `an integer from ${v.min} to ${v.max}` : `${noun} in ${lo}${v.min}, ${v.max}${hi}`;
  else if (v.min === 1 && v.type === 'int') words = 'a positive integer';
  else if (v.min === 0 && v.type === 'number' && v.minExclusive) words = 'a positive number';
  else words = v.type === 'number' && v.minExclusive ? `${noun} above ${v.min}` : `${noun} >= ${v.min}`;
  return v.type === 'int' && v.auto ? `${words} or 'auto'` : words;
}

/** Whether a value (from a flag or a file) is one the spec accepts. */
export function valueAccepted(v: ValueSpec, x: unknown): boolean {
  if (v.type === 'choice') return typeof x === 'string' && v.choices.includes(x);
  if (v.type === 'text') return typeof x === 'string';
  if (v.type === 'switch') return typeof x === 'boolean';
  if (v.type === 'int' && v.auto && x === 'auto') return true;
  if (typeof x !== 'number' || !Number.isFinite(x)) return false;
  if (v.type === 'int' && !Number.isSafeInteger(x)) return false;
  const minOk = v.type === 'number' && v.minExclusive ? x > v.min : x >= v.min;
  const maxOk = v.max === undefined || (v.type === 'number' && v.maxExclusive ? x < v.max : x <= v.max);
  return minOk && maxOk;
}

/** A flag's text as the spec's value; throws a RangeError saying what was expected. */
export function parseValue(v: ValueSpec, text: string): number | string {
  if (v.type === 'choice' || v.type === 'text' || (v.type === 'int' && v.auto && text === 'auto')) {
    if (!valueAccepted(v, text)) throw new RangeError(`Expected ${describeValue(v)}.`);
    return text;
  }
  const x = text.trim() === '' || (v.type === 'int' && !/^\s*-?\d+\s*$/.test(text)) ? NaN : Number(text);
  if (!valueAccepted(v, x)) throw new RangeError(`Expected ${describeValue(v)}.`);
  return x;
}

/** A value checked against its option: a RangeError naming the option (`Expected a positive integer for batchSize but received 0`). */
export function checkValue(spec: OptionSpec, x: unknown): void {
  if (!valueAccepted(spec.value, x)) {
    throw new RangeError(`Expected ${describeValue(spec.value)} for ${spec.key} but received ${typeof x === 'string' ? `'${x}'` : String(x)}`);
  }
}
