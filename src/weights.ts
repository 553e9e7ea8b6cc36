import * as fs from 'node:fs';
import { writeFileAtomic } from './atomic';
import { PARAM_NAMES, SimpleRnnlm, type SimpleRnnlmOptions } from './model';
import { parseSafetensors, serializeSafetensors, WeightsFormatError, type SafetensorsFile, type Tensor } from './safetensors';

export const WEIGHTS_FORMAT = 'rnnlm.SimpleRnnlm';

export interface Weights extends SafetensorsFile {
  vocabSize: number;
  wordvecSize: number;
  hiddenSize: number;
  /** id -> word, when the file carries a vocabulary. */
  vocab?: string[];
}

/** The model's six tensors by name, in the book's order (views, not copies). */
export function modelTensors(model: SimpleRnnlm): [string, Tensor][] {
  return model.specs.map((s, i) => [s.name, { shape: s.shape, data: model.params[i] }]);
}

/** The bytes of a weights file for `model`, with its sizes and (optionally) its vocabulary as metadata. */
export function weightsToBytes(model: SimpleRnnlm, vocab?: readonly string[], metadata: Record<string, string> = {}): Uint8Array {
  if (vocab !== undefined && vocab.length !== model.vocabSize) {
    throw new RangeError(`vocabulary has ${vocab.length} words but the model ${model.vocabSize}`);
  }
  const meta: Record<string, string> = {
    format: WEIGHTS_FORMAT,
    vocab_size: String(model.vocabSize),
    wordvec_size: String(model.wordvecSize),
    hidden_size: String(model.hiddenSize),
    ...metadata,
  };
  if (vocab) meta.vocab = JSON.stringify(vocab);
  return serializeSafetensors(modelTensors(model), meta);
}

/** Writes the model's weights to `file` atomically (the old file survives any failure). */
export function saveWeights(file: string, model: SimpleRnnlm, vocab?: readonly string[], metadata?: Record<string, string>): void {
  writeFileAtomic(file, weightsToBytes(model, vocab, metadata));
}

/** Parses and checks weights: all six tensors present, with shapes that agree with each other. */
export function parseWeights(buf: Uint8Array, source = 'weights file'): Weights {
  return weightsFromSafetensors(parseSafetensors(buf, source), source);
}

/** The checks of parseWeights on an already parsed safetensors file (which may hold more tensors). */
export function weightsFromSafetensors(file: SafetensorsFile, source = 'weights file'): Weights {
  const fail = (msg: string): never => {
    throw new WeightsFormatError(`${source}: ${msg}`);
  };
  for (const name of PARAM_NAMES) if (!file.tensors.has(name)) fail(`missing tensor '${name}'`);
  const shape = (name: string): number[] => file.tensors.get(name)!.shape;
  const emb = shape('embed.W');
  if (emb.length !== 2) fail(`tensor 'embed.W' must be 2-D [V, D] but has shape [${emb.join(', ')}]`);
  const [V, D] = emb;
  const wh = shape('rnn.Wh');
  const H = wh[0];
  const expected: Record<string, number[]> = {
    'embed.W': [V, D], 'rnn.Wx': [D, H], 'rnn.Wh': [H, H], 'rnn.b': [H], 'affine.W': [H, V], 'affine.b': [V],
  };
  for (const name of PARAM_NAMES) {
    const s = shape(name), e = expected[name];
    if (s.length !== e.length || s.some((d, i) => d !== e[i])) {
      fail(`tensor '${name}' has shape [${s.join(', ')}] but [${e.join(', ')}] fits the other tensors (V=${V}, D=${D}, H=${H})`);
    }
  }
  if (V < 1 || D < 1 || H < 1) fail(`sizes must be positive (V=${V}, D=${D}, H=${H})`);
  let vocab: string[] | undefined;
  if (file.metadata.vocab !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(file.metadata.vocab);
    } catch {
      fail('__metadata__.vocab is not valid JSON');
    }
    if (!Array.isArray(parsed) || parsed.length !== V || !parsed.every((w) => typeof w === 'string')) {
      fail(`__metadata__.vocab must be a list of ${V} words`);
    }
    vocab = parsed as string[];
  }
  return { ...file, vocabSize: V, wordvecSize: D, hiddenSize: H, vocab };
}

/** A file's bytes; an unreadable file is a WeightsFormatError naming `what`, the file and the reason. */
export function readBytes(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new WeightsFormatError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export function readWeights(file: string): Weights {
  return parseWeights(readBytes(file, 'weights file'), file);
}

/** Copies the weights into a model of the same sizes; a size mismatch names the tensor and both shapes. */
export function loadWeightsInto(model: SimpleRnnlm, w: Weights, source = 'weights file'): void {
  for (let i = 0; i < model.specs.length; i++) {
    const spec = model.specs[i];
    const t = w.tensors.get(spec.name)!;
    if (t.shape.length !== spec.shape.length || t.shape.some((d, j) => d !== spec.shape[j])) {
      throw new WeightsFormatError(
        `${source}: tensor '${spec.name}' has shape [${t.shape.join(', ')}] but the model needs [${spec.shape.join(', ')}]`,
      );
    }
    model.params[i].set(t.data);
  }
}

/** A model sized and initialised from weights. */
export function modelFromWeights(w: Weights, opts: SimpleRnnlmOptions = {}, source?: string): SimpleRnnlm {
  const model = new SimpleRnnlm(w.vocabSize, w.wordvecSize, w.hiddenSize, opts);
  loadWeightsInto(model, w, source);
  return model;
}
