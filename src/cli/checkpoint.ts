/**
 * Checkpoints: a safetensors file holding the weights, the recurrent state (`state.{cell}.{l}.h`, and `.c` for an
 * LSTM), and as metadata the model's architecture, the run's
 * configuration, the trainer state (epoch, iteration, time index, running losses), the learning rate, the best
 * validation perplexity, the vocabulary and the history of reports. Written atomically (temporary file, fsync,
 * rename), so a failed write never replaces the previous good checkpoint.
 */
import { writeFileAtomic } from '../atomic';
import { stateTable, type LanguageModel } from '../model';
import { parseSafetensors, serializeSafetensors, WeightsFormatError } from '../safetensors';
import type { TrainerState } from '../trainer';
import { architectureMetadata, modelTensors, readBytes, weightsFromSafetensors, type Weights } from '../weights';
import type { LogRecord } from './history';
import { checkStoredOptions, type RunConfig } from './run-config';

export type { RunConfig };

export const CHECKPOINT_FORMAT = 'rnnlm.checkpoint';
export const CHECKPOINT_VERSION = '2';
/** Version 1 held a SimpleRnnlm and its state as `state.h`; it still loads. */
const READABLE_VERSIONS = ['1', '2'];

export interface Checkpoint {
  config: RunConfig;
  trainer: TrainerState;
  lr: number;
  bestValPpl?: number;
  /** id -> word; empty when the run had none (weights from --init with a larger vocabulary). */
  vocab: string[];
  history: LogRecord[];
  /** Bytes of the --log file that belong to the run up to this checkpoint. */
  logBytes: number;
  weights: Weights;
  /** The recurrent state, one [N,H] tensor per stateTable entry, when there is one. */
  state?: Float32Array[];
}

export function checkpointBytes(model: LanguageModel, c: Omit<Checkpoint, 'weights' | 'state'>): Uint8Array {
  const tensors = modelTensors(model);
  const state = model.getState();
  const H = model.hiddenSize;
  if (state) model.stateNames.forEach((name, k) => tensors.push([`state.${name}`, { shape: [state[k].length / H, H], data: state[k] }]));
  return serializeSafetensors(tensors, {
    ...architectureMetadata(model.config),
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    config: JSON.stringify(c.config),
    trainer: JSON.stringify(c.trainer),
    lr: JSON.stringify(c.lr),
    best_val_ppl: JSON.stringify(c.bestValPpl ?? null),
    // The vocabulary under the weights' own key, so that weightsFromSafetensors checks it; none when empty (a run
    // from --init weights with a larger vocabulary than its corpus).
    ...(c.vocab.length > 0 && { vocab: JSON.stringify(c.vocab) }),
    history: JSON.stringify(c.history),
    log_bytes: String(c.logBytes),
  });
}

export function saveCheckpoint(file: string, model: LanguageModel, c: Omit<Checkpoint, 'weights' | 'state'>): void {
  writeFileAtomic(file, checkpointBytes(model, c));
}

/** The whole run configuration: its data, fingerprint and every stored run option (run-config.ts), and nothing missing that a run needs. */
function checkConfig(c: unknown, fail: (msg: string) => never): asserts c is RunConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) fail("checkpoint field 'config' is not an object");
  const o = c as Record<string, unknown>;
  const bad = (k: string, what: string): never => fail(`checkpoint config field '${k}' is ${JSON.stringify(o[k]) ?? 'missing'}, not ${what}`);
  const data = o.data as Record<string, unknown> | undefined;
  if (typeof data !== 'object' || data === null) bad('data', 'an object');
  else if (data.kind === 'ptb') {
    if (!Number.isSafeInteger(data.corpusSize) || (data.corpusSize as number) < 0) bad('data', 'a PTB corpus size');
    if (data.fullVocab !== undefined && typeof data.fullVocab !== 'boolean') bad('data', 'a PTB vocabulary choice');
  } else if (data.kind === 'text') {
    if (typeof data.file !== 'string' || (data.validFile !== undefined && typeof data.validFile !== 'string')) bad('data', 'text files');
  } else if (data.kind === 'dataset') {
    if (typeof data.dir !== 'string') bad('data', 'a dataset folder');
  } else bad('data', "kind 'ptb', 'text' or 'dataset'");
  if (typeof o.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(o.fingerprint)) bad('fingerprint', 'a sha256');
  checkStoredOptions(o, bad);
}

export function readCheckpoint(file: string): Checkpoint {
  const buf = readBytes(file, 'checkpoint');
  const fail = (msg: string): never => {
    throw new WeightsFormatError(`${file}: ${msg}`);
  };
  const raw = parseSafetensors(buf, file);
  if (raw.metadata.format !== CHECKPOINT_FORMAT) {
    fail(`not an rnnlm checkpoint (format ${JSON.stringify(raw.metadata.format ?? null)})`);
  }
  if (!READABLE_VERSIONS.includes(raw.metadata.version ?? '')) fail(`checkpoint version ${raw.metadata.version} is not supported`);
  const json = (key: string): unknown => {
    try {
      return JSON.parse(raw.metadata[key] ?? '');
    } catch {
      return fail(`checkpoint field '${key}' is missing or not JSON`);
    }
  };
  const config = json('config');
  const trainer = json('trainer');
  const lr = json('lr');
  const best = json('best_val_ppl');
  const history = json('history');
  const logBytes = Number(raw.metadata.log_bytes);
  checkConfig(config, fail);
  const intAtLeast = (v: unknown, min: number): boolean => Number.isSafeInteger(v) && (v as number) >= min;
  const finiteAtLeast0 = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const trainerChecks: Record<keyof TrainerState, (v: unknown) => boolean> = {
    epoch: (v) => intAtLeast(v, 1), iter: (v) => intAtLeast(v, 0), timeIdx: (v) => intAtLeast(v, 0),
    epochLoss: finiteAtLeast0, reportLoss: finiteAtLeast0, reportCount: (v) => intAtLeast(v, 0), elapsedS: finiteAtLeast0,
  };
  if (typeof trainer !== 'object' || trainer === null) fail("checkpoint field 'trainer' is malformed");
  for (const [k, ok] of Object.entries(trainerChecks)) {
    if (!ok((trainer as unknown as Record<string, unknown>)[k])) {
      fail(`checkpoint trainer state has ${k} = ${JSON.stringify((trainer as unknown as Record<string, unknown>)[k]) ?? 'nothing'}`);
    }
  }
  if (best !== null && !(typeof best === 'number' && Number.isFinite(best) && best >= 1)) {
    fail(`checkpoint field 'best_val_ppl' is ${String(best)}, not a perplexity`);
  }
  if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) fail("checkpoint field 'lr' is malformed");
  if (!Array.isArray(history)) fail("checkpoint field 'history' is malformed");
  if (!Number.isSafeInteger(logBytes) || logBytes < 0) fail("checkpoint field 'log_bytes' is malformed");
  // The same parse: checks every tensor and the vocabulary (its length, its words, no word twice), no second copy.
  const weights = weightsFromSafetensors(raw, file, (name) => name.startsWith('state.'));
  if (config.wordvecSize !== weights.wordvecSize || config.hiddenSize !== weights.hiddenSize) {
    fail(`checkpoint field 'config' says wordvec ${config.wordvecSize}, hidden ${config.hiddenSize} but the weights have ${weights.wordvecSize}, ${weights.hiddenSize}`);
  }
  // The model: version 1 runs were one-layer RNNs without dropout.
  config.cell ??= weights.config.cell;
  config.numLayers ??= weights.config.layers;
  config.dropout ??= weights.config.dropout;
  config.tied ??= weights.config.tied;
  if (config.cell !== weights.config.cell || config.numLayers !== weights.config.layers || config.tied !== weights.config.tied
    || config.dropout !== weights.config.dropout) {
    fail("checkpoint field 'config' does not match the architecture of its weights");
  }
  if (raw.tensors.has('state.h')) raw.tensors.set('state.rnn.0.h', raw.tensors.get('state.h')!); // version 1
  const names = stateTable(weights.config).map((s) => `state.${s.name}`);
  const present = names.filter((n) => raw.tensors.has(n));
  let state: Float32Array[] | undefined;
  if (present.length > 0) {
    for (const n of names) {
      const t = raw.tensors.get(n);
      if (!t) fail(`missing state tensor '${n}'`);
      if (t!.shape.length !== 2 || t!.shape[0] !== config.batchSize || t!.shape[1] !== weights.hiddenSize) {
        fail(`state tensor '${n}' has shape [${t!.shape.join(', ')}] but the run needs [${config.batchSize}, ${weights.hiddenSize}]`);
      }
    }
    state = names.map((n) => raw.tensors.get(n)!.data);
  }
  return {
    config, trainer: trainer as TrainerState, lr: lr as number, bestValPpl: typeof best === 'number' ? best : undefined, vocab: weights.vocab ?? [],
    history: history as LogRecord[], logBytes, weights, state,
  };
}
