/**
 * The output heads, one module each; this table is the only list of them. Adding a head is a module exporting a
 * `HeadKind` and its line here.
 */
import { classHead } from './class';
import { full } from './full';
import { sampled } from './sampled';
import { tree } from './tree';
import type { HeadKind } from './types';

export const HEADS = { full, class: classHead, sampled, tree } as const satisfies Record<string, HeadKind>;

export type OutputType = keyof typeof HEADS;
export const OUTPUT_TYPES = Object.keys(HEADS) as OutputType[];
/** The book's head: a model or run that names none has it. */
export const DEFAULT_OUTPUT: OutputType = 'full';

/** The head of a config's `output`; a RangeError names an unknown one. */
export function headKind(output: string): HeadKind {
  if (!Object.hasOwn(HEADS, output)) throw new RangeError(`Unknown output layer '${output}': expected one of ${OUTPUT_TYPES.join(', ')}`);
  return HEADS[output as OutputType];
}

/** The head whose option `key` is (`classes` -> the class head), if any. */
export function headOfOption(key: string): HeadKind | undefined {
  return OUTPUT_TYPES.map((t) => HEADS[t] as HeadKind).find((h) => h.options.some((o) => o.key === key));
}

export { FullHead } from './full';
export { ClassHead } from './class';
export { SampledHead } from './sampled';
export { TreeHead } from './tree';
export { HEAD_FIELDS, HEAD_FIELD_WORDS, type HeadConfig, type HeadKind, type HeadContext, type NoiseConfig, type HeadKey, type HeadSplit, type HeadTensor, type OutputHead } from './types';
