/**
 * A run's configuration as `rnnlm train` keeps it in checkpoints, made from its flags and compared with them on
 * `--resume`, all from the run options' declarations (src/run-options.ts): what a checkpoint stores, under which key,
 * what an older checkpoint's missing value stands for, and which flags a resumed run may change.
 */
import * as path from 'node:path';
import { DEFAULT_OUTPUT, headOfOption } from '../heads';
import { describeValue, flagOf, valueAccepted } from '../options';
import { ALL_RUN_OPTIONS, runOption, type RunFlags, type RunOption, type StoredOptions } from '../run-options';
import { UsageError } from './args';
import { PRESETS, type PresetName } from './presets';

/** The parsed flags of `rnnlm train`: every run option's value, the preset, and the heads' options. */
export type TrainFlags = RunFlags & { preset?: PresetName } & { readonly [headOption: string]: unknown };

/** Where a run's data comes from: PTB (a prefix; fullVocab keeps all of its words), the user's text files, or a prepared dataset. */
export type DataConfig = { kind: 'ptb'; corpusSize: number; fullVocab?: boolean } | { kind: 'text'; file: string; validFile?: string } | { kind: 'dataset'; dir: string };

/**
 * What a run was started with: enough to rebuild its data, model and schedule. The stored run options under their
 * configuration keys, the chosen head's options, the data and a fingerprint of the training data (sha256 of its
 * ids; a dataset's: its vocabulary and training checksums) that refuses resuming on other data.
 */
export type RunConfig = StoredOptions & { readonly [headOption: string]: unknown } & { data: DataConfig; fingerprint: string };

/** The configuration key of a stored option. */
export const configKey = (o: RunOption): string => o.configKey ?? o.key;

/** The options a checkpoint keeps in its configuration: the run's own and the heads' (the chosen head's are there). */
const STORED = ALL_RUN_OPTIONS.filter((o) => o.stored === 'config');

/** The flags that may accompany --resume; everything else comes from the checkpoint. */
export const RESUMABLE = new Set(ALL_RUN_OPTIONS.filter((o) => o.resumable).map((o) => o.key));

/** The run configuration that a command line describes (a new run's, or what a resumed run must agree with). */
export function configFromFlags(flags: TrainFlags): RunConfig {
  const given = flags as unknown as Readonly<Record<string, unknown>>;
  const config: Record<string, unknown> = { data: dataConfig(flags), fingerprint: '' };
  for (const o of STORED) {
    const head = headOfOption(o.key);
    if (head && head.name !== flags.output) continue; // another head's
    const v = given[o.key] ?? (head ? o.default : undefined);
    config[configKey(o)] = o.value.type === 'switch' ? Boolean(v) : v;
  }
  config.valid = Boolean(flags.valid || flags.validText);
  return config as RunConfig;
}

function dataConfig(flags: TrainFlags): DataConfig {
  if (flags.data !== undefined) return { kind: 'dataset', dir: path.resolve(flags.data) };
  if (flags.text !== undefined) return { kind: 'text', file: flags.text, validFile: flags.validText };
  return { kind: 'ptb', corpusSize: flags.corpusSize, ...(flags.fullVocab && { fullVocab: true }) };
}

/** What a data option's flag stands for in a data description (undefined where the data is of another kind). */
function dataValue(d: DataConfig, key: string): unknown {
  switch (key) {
    case 'corpusSize': return d.kind === 'ptb' ? d.corpusSize : undefined;
    case 'fullVocab': return d.kind === 'ptb' ? d.fullVocab ?? false : undefined;
    case 'text': return d.kind === 'text' ? d.file : undefined;
    case 'validText': return d.kind === 'text' ? d.validFile : undefined;
    case 'data': return d.kind === 'dataset' ? d.dir : undefined;
    default: throw new RangeError(`'${key}' is not a data option`);
  }
}

/**
 * An option's value in a run configuration: stored, or what an older checkpoint's missing value stands for; a head's
 * option missing from a run of that head stands for its default.
 */
export function storedValue(c: RunConfig, o: RunOption): unknown {
  if (o.stored === 'data') return dataValue(c.data, o.key);
  const v = (c as unknown as Readonly<Record<string, unknown>>)[configKey(o)];
  if (v !== undefined) return v;
  if (o.legacy !== undefined) return o.legacy;
  return headOfOption(o.key)?.name === (c.output ?? DEFAULT_OUTPUT) ? o.default : undefined;
}

/**
 * Flags given with --resume must agree with the checkpoint (the usual way to resume is the same command again with
 * --resume added); a flag that would change the run is refused, naming both values.
 */
export function checkResumeFlags(flags: TrainFlags, explicit: Set<string>, stored: RunConfig, file: string): void {
  const given = new Set([...explicit, ...(flags.preset !== undefined ? Object.keys(PRESETS[flags.preset].flags) : [])]);
  const wanted = configFromFlags(flags);
  for (const k of given) {
    if (RESUMABLE.has(k) || k === 'preset') continue;
    const o = runOption(k);
    const old = storedValue(stored, o);
    const now = storedValue(wanted, o);
    if (old !== now) {
      const was = old === undefined ? 'not set' : JSON.stringify(old);
      throw new UsageError(`${flagOf(k)} ${JSON.stringify(now)} differs from ${file}, whose run has ${was}: a resumed run keeps its settings (drop the flag, or start a new run)`);
    }
  }
}

/** The stored options of a checkpoint's configuration, each checked against its declaration; `bad` says what is wrong. */
export function checkStoredOptions(o: Readonly<Record<string, unknown>>, bad: (key: string, what: string) => never): void {
  for (const option of STORED) {
    const k = configKey(option), v = o[k];
    if (v === undefined ? !option.optional : !valueAccepted(option.value, v)) bad(k, describeValue(option.value));
  }
}
