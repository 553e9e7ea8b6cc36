import { InvalidArgumentError, Option } from 'commander';
import { flagOf, parseValue, type OptionSpec } from '../options';

/** A command line that cannot work: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('Expected a positive integer.');
  }
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError('Expected an integer >= 0.');
  }
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('Expected a number >= 0.');
  }
  return n;
}

export function seedInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n > 0xffffffff) {
    throw new InvalidArgumentError('Expected an integer from 0 to 4294967295.');
  }
  return n;
}

/**
 * An option's commander flags from its declaration (src/options.ts): the flag, its help, its parser or choices and its
 * default; a negatable switch gets its `--no-` form too.
 */
export function commanderOptions(spec: OptionSpec): Option[] {
  const flag = flagOf(spec.key);
  const value = spec.value;
  if (value.type === 'switch') return [new Option(flag, spec.help), ...(value.negatable ? [new Option(`--no-${flag.slice(2)}`, `turns ${flag} off (over a preset)`)] : [])];
  const option = new Option(`${flag} ${spec.arg ?? '<value>'}`, spec.help);
  if (spec.default !== undefined) option.default(spec.default);
  if (value.type === 'choice') return [option.choices(value.choices)];
  if (value.type === 'text') return [option];
  return [option.argParser((text: string) => {
    try {
      return parseValue(value, text);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  })];
}
