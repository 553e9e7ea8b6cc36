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

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('Expected a positive number.');
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

export function workersArg(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  try {
    return positiveInt(value);
  } catch {
    throw new InvalidArgumentError("Expected a positive integer or 'auto'.");
  }
}

/** A commander option from its declaration (src/options.ts): flag, help, value check; no default (the run fills it). */
export function commanderOption(spec: OptionSpec): Option {
  const option = new Option(`${flagOf(spec.key)} ${spec.arg}`, spec.help);
  if (spec.value.type === 'choice') return option.choices(spec.value.choices);
  const value = spec.value;
  return option.argParser((text: string) => {
    try {
      return parseValue(value, text);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  });
}
