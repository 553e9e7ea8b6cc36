/**
 * Weights files: safetensors with F32 row-major tensors named as in paramTable (`embed.W`, `{cell}.{l}.Wx`,
 * `{cell}.{l}.Wh`, `{cell}.{l}.b`, `affine.W` unless tied, `affine.b`) and `__metadata__` recording the
 * architecture and the vocabulary. A file without architecture metadata (e.g. written by NumPy) is read from its
 * tensor names and shapes; files of the first format (`rnn.Wx`, `rnn.Wh`, `rnn.b`) still load.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from './atomic';
import { DEFAULT_OUTPUT, HEAD_FIELD_WORDS, HEAD_FIELDS, headKind, OUTPUT_TYPES } from './heads';
import { CELL_TYPES, LanguageModel, modelConfig, paramTable, type CellType, type ModelConfig, type ModelOptions } from './model';
import { parseSafetensors, serializeSafetensors, WeightsFormatError, type SafetensorsFile, type Tensor } from './safetensors';

export const WEIGHTS_FORMAT = 'rnnlm.LanguageModel';

export interface Weights extends SafetensorsFile {
  /** The architecture: from the metadata when present, else from the tensors (dropout 0). */
  config: ModelConfig;
  vocabSize: number;
  wordvecSize: number;
  hiddenSize: number;
  /** id -> word, when the file carries a vocabulary. */
  vocab?: string[];
}

/** The model's tensors by name, in paramTable order (views, not copies). */
export function modelTensors(model: LanguageModel): [string, Tensor][] {
  return model.specs.map((s, i) => [s.name, { shape: s.shape, data: model.params[i] }]);
}

/** The metadata that records a model's architecture. */
export function architectureMetadata(config: ModelConfig): Record<string, string> {
  return {
    format: WEIGHTS_FORMAT,
    architecture: JSON.stringify(config),
    vocab_size: String(config.vocabSize),
    wordvec_size: String(config.wordvecSize),
    hidden_size: String(config.hiddenSize),
  };
}

/** The bytes of a weights file for `model`, with its architecture and (optionally) its vocabulary as metadata. */
export function weightsToBytes(model: LanguageModel, vocab?: readonly string[], metadata: Record<string, string> = {}): Uint8Array {
  if (vocab !== undefined && vocab.length !== model.vocabSize) {
    throw new RangeError(`vocabulary has ${vocab.length} words but the model ${model.vocabSize}`);
  }
  const meta: Record<string, string> = { ...architectureMetadata(model.config), ...metadata };
  if (vocab) meta.vocab = JSON.stringify(vocab);
  return serializeSafetensors(modelTensors(model), meta);
}

/** Writes the model's weights to `file` atomically (the old file survives any failure). */
export function saveWeights(file: string, model: LanguageModel, vocab?: readonly string[], metadata?: Record<string, string>): void {
  writeFileAtomic(file, weightsToBytes(model, vocab, metadata));
}

/** Parses and checks weights: every tensor of the architecture present, with the shapes it needs. */
export function parseWeights(buf: Uint8Array, source = 'weights file'): Weights {
  return weightsFromSafetensors(parseSafetensors(buf, source), source);
}

const LAYER_TENSOR = new RegExp(`^(${CELL_TYPES.join('|')})\\.(\\d+)\\.(Wx|Wh|b)$`);

/**
 * The architecture that a file's tensor names and shapes describe (a full softmax: the class boundaries of a class
 * output layer come only from the architecture metadata, `hasArchitecture`).
 */
function inferConfig(file: SafetensorsFile, fail: (msg: string) => never, hasArchitecture: boolean): ModelConfig {
  const t = file.tensors;
  const emb = t.get('embed.W');
  if (!emb) fail("missing tensor 'embed.W'");
  if (emb!.shape.length !== 2) fail(`tensor 'embed.W' must be 2-D [V, D] but has shape [${emb!.shape.join(', ')}]`);
  const [V, D] = emb!.shape;
  const cells = new Set<string>();
  const layerIds = new Set<number>();
  for (const name of t.keys()) {
    const m = LAYER_TENSOR.exec(name);
    if (m) {
      cells.add(m[1]);
      layerIds.add(Number(m[2]));
    }
  }
  if (cells.size === 0) fail(`no recurrent layer tensors (expected names like 'rnn.0.Wx', 'lstm.0.Wx' or 'gru.0.Wx')`);
  if (cells.size > 1) fail(`tensors of more than one cell type (${[...cells].join(', ')})`);
  const cell = [...cells][0] as CellType;
  const layers = layerIds.size;
  for (let l = 0; l < layers; l++) if (!layerIds.has(l)) fail(`layer tensors are numbered ${[...layerIds].sort((a, b) => a - b).join(', ')}: expected 0..${layers - 1}`);
  const wh = t.get(`${cell}.0.Wh`);
  if (!wh) fail(`missing tensor '${cell}.0.Wh'`);
  const H = wh!.shape[0];
  if (!(V >= 1 && D >= 1 && H >= 1)) fail(`sizes must be positive (V=${V}, D=${D}, H=${H})`);
  if (!hasArchitecture) {
    for (const kind of OUTPUT_TYPES.map(headKind)) {
      const own = kind.ownTensors.filter((n) => t.has(n));
      if (own.length > 0) fail(`tensors ${own.map((n) => `'${n}'`).join(' and ')} of a ${kind.name} output layer need __metadata__.architecture (its ${kind.fields.map((f) => HEAD_FIELD_WORDS[f]).join(', ')})`);
    }
  }
  // Tied: the word output layer's bias without its weights (the embedding serves as both).
  const tied = t.has('affine.b') && !t.has('affine.W');
  if (tied && D !== H) fail(`missing tensor 'affine.W' (tied output weights need wordvec = hidden, but they are ${D} and ${H})`);
  return { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H, dropout: 0, tied, output: DEFAULT_OUTPUT, classBounds: [] };
}

/**
 * The checks of parseWeights on an already parsed safetensors file. A tensor that the architecture does not name is
 * refused, naming it, unless `extra` allows it (a checkpoint's recurrent state).
 */
export function weightsFromSafetensors(file: SafetensorsFile, source = 'weights file', extra: (name: string) => boolean = () => false): Weights {
  const fail = (msg: string): never => {
    throw new WeightsFormatError(`${source}: ${msg}`);
  };
  // The first format named the single RNN layer without its index.
  for (const p of ['Wx', 'Wh', 'b']) {
    const old = file.tensors.get(`rnn.${p}`);
    if (old && !file.tensors.has(`rnn.0.${p}`)) {
      file.tensors.set(`rnn.0.${p}`, old);
      file.tensors.delete(`rnn.${p}`);
    }
  }
  const inferred = inferConfig(file, fail, file.metadata.architecture !== undefined);
  let config = inferred;
  if (file.metadata.architecture !== undefined) {
    let meta: Partial<ModelConfig>;
    try {
      meta = JSON.parse(file.metadata.architecture) as Partial<ModelConfig>;
    } catch {
      return fail('__metadata__.architecture is not valid JSON');
    }
    if (typeof meta !== 'object' || meta === null) fail('__metadata__.architecture is not an object');
    for (const k of ['cell', 'layers', 'vocabSize', 'wordvecSize', 'hiddenSize', 'tied'] as const) {
      if (meta[k] !== inferred[k]) {
        fail(`__metadata__.architecture says ${k} ${JSON.stringify(meta[k])} but the tensors say ${JSON.stringify(inferred[k])}`);
      }
    }
    try {
      const headFields = Object.fromEntries(HEAD_FIELDS.map((f) => [f, meta[f]]));
      config = modelConfig({ ...inferred, dropout: meta.dropout ?? 0, output: meta.output, ...headFields });
    } catch (e) {
      fail(`__metadata__.architecture: ${(e as Error).message}`);
    }
  }
  for (const spec of paramTable(config)) {
    const t = file.tensors.get(spec.name);
    if (!t) fail(`missing tensor '${spec.name}'`);
    if (t!.shape.length !== spec.shape.length || t!.shape.some((d, i) => d !== spec.shape[i])) {
      fail(`tensor '${spec.name}' has shape [${t!.shape.join(', ')}] but [${spec.shape.join(', ')}] fits the other tensors (${describeConfig(config)})`);
    }
  }
  const named = new Set(paramTable(config).map((s) => s.name));
  for (const name of file.tensors.keys()) {
    if (!named.has(name) && !extra(name)) {
      fail(`tensor '${name}' is not part of this model (${describeConfig(config)}: ${[...named].join(', ')})`);
    }
  }
  let vocab: string[] | undefined;
  if (file.metadata.vocab !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(file.metadata.vocab);
    } catch {
      fail('__metadata__.vocab is not valid JSON');
    }
    if (!Array.isArray(parsed) || parsed.length !== config.vocabSize || !parsed.every((w) => typeof w === 'string')) {
      fail(`__metadata__.vocab must be a list of ${config.vocabSize} words`);
    }
    vocab = parsed as string[];
    const dup = firstDuplicate(vocab);
    if (dup) fail(`__metadata__.vocab has ${JSON.stringify(dup.word)} twice (ids ${dup.first} and ${dup.second})`);
  }
  // Sizes written beside the architecture must agree with the tensors too.
  for (const [key, value] of [['vocab_size', config.vocabSize], ['wordvec_size', config.wordvecSize], ['hidden_size', config.hiddenSize]] as const) {
    const m = file.metadata[key];
    if (m !== undefined && m !== String(value)) fail(`__metadata__.${key} says ${m} but the tensors say ${value}`);
  }
  return { ...file, config, vocabSize: config.vocabSize, wordvecSize: config.wordvecSize, hiddenSize: config.hiddenSize, vocab };
}

function describeConfig(config: ModelConfig): string {
  const head = headKind(config.output).describe(config);
  return `${config.cell}, ${config.layers} layer${config.layers > 1 ? 's' : ''}, V=${config.vocabSize}, D=${config.wordvecSize}, H=${config.hiddenSize}` +
    `${config.tied ? ', tied' : ''}${head ? `, ${head}` : ''}`;
}

/** The first word that appears twice in a vocabulary, with both ids. */
function firstDuplicate(words: readonly string[]): { word: string; first: number; second: number } | undefined {
  const seen = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    const j = seen.get(words[i]);
    if (j !== undefined) return { word: words[i], first: j, second: i };
    seen.set(words[i], i);
  }
  return undefined;
}

/** Why a file could not be read, in words ("no such file"), from a Node.js file-system error. */
export function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a folder', ENOTDIR: 'a part of the path is not a folder',
    EMFILE: 'too many open files', ENAMETOOLONG: 'the name is too long',
  };
  return (code && words[code]) ?? (code ? `${code}` : (e as Error).message);
}

/** A file's bytes; an unreadable file is a WeightsFormatError naming `what`, the file and the reason. */
export function readBytes(file: string, what: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new WeightsFormatError(`cannot read ${what} ${file}: ${ioReason(e)}`);
  }
}

export function readWeights(file: string): Weights {
  return parseWeights(readBytes(file, 'weights file'), file);
}

/** Copies the weights into a model of the same architecture; a mismatch names the tensor and both shapes. */
export function loadWeightsInto(model: LanguageModel, w: Weights, source = 'weights file'): void {
  for (let i = 0; i < model.specs.length; i++) {
    const spec = model.specs[i];
    const t = w.tensors.get(spec.name);
    if (!t) throw new WeightsFormatError(`${source}: missing tensor '${spec.name}' that the model needs`);
    if (t.shape.length !== spec.shape.length || t.shape.some((d, j) => d !== spec.shape[j])) {
      throw new WeightsFormatError(
        `${source}: tensor '${spec.name}' has shape [${t.shape.join(', ')}] but the model needs [${spec.shape.join(', ')}]`,
      );
    }
    model.params[i].set(t.data);
  }
}

/** A model built from the file's architecture (dropout may be overridden) and loaded with its weights. */
export function modelFromWeights(w: Weights, opts: ModelOptions & { dropout?: number } = {}, source?: string): LanguageModel {
  const model = new LanguageModel({ ...w.config, dropout: opts.dropout ?? w.config.dropout }, opts);
  loadWeightsInto(model, w, source);
  return model;
}
