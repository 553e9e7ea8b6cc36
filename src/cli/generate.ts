import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES, type BackendName } from '../backend';
import { EOS } from '../data/ptb';
import { Random } from '../random';
import { nonNegativeInt, nonNegativeNumber, seedInt, UsageError } from './args';
import { loadModelFile } from './model-file';
import type { Io } from './io';
import { pickBackend } from './io';

export interface GenerateFlags {
  start: string;
  length: number;
  temperature: number;
  topK: number;
  seed: number;
  skip: string[];
  backend?: BackendName;
  dataDir?: string;
}

/**
 * Picks a word id from scores [V]: softmax(scores / temperature) with `banned` ids removed and, when topK > 0,
 * only the topK most likely kept. `probs` [V] is scratch.
 */
export function sampleWord(scores: Float32Array, temperature: number, topK: number, banned: Set<number>, rng: Random, probs: Float64Array): number {
  const V = scores.length;
  for (let i = 0; i < V; i++) {
    if (!Number.isFinite(scores[i])) throw new RangeError(`the model's scores are not finite (${scores[i]} for word ${i}): its weights overflow`);
  }
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (!banned.has(i) && scores[i] > max) max = scores[i];
  if (max === -Infinity) throw new UsageError('--skip removes every word of the vocabulary');
  if (temperature === 0) {
    // Greedy decoding: the most likely allowed word (the lowest id among equals).
    let best = -1;
    for (let i = 0; i < V; i++) if (!banned.has(i) && (best < 0 || scores[i] > scores[best])) best = i;
    return best;
  }
  let kth = -Infinity;
  if (topK > 0 && topK < V) {
    const sorted = Array.from(scores).filter((_, i) => !banned.has(i)).sort((a, b) => b - a);
    kth = sorted[Math.min(topK, sorted.length) - 1];
  }
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const p = banned.has(i) || scores[i] < kth ? 0 : Math.exp((scores[i] - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  let u = rng.uniform() * sum;
  let last = -1;
  for (let i = 0; i < V; i++) {
    if (probs[i] === 0) continue;
    last = i;
    u -= probs[i];
    if (u < 0) return i;
  }
  return last;
}

/** `rnnlm generate`: sample a text word by word, <eos> printed as a line break. */
export async function generate(file: string, flags: GenerateFlags, io: Io): Promise<void> {
  const backend = pickBackend(flags.backend, io.err);
  const { model, vocab } = await loadModelFile(file, backend, flags.dataDir);
  const wordToId = new Map(vocab.map((w, i) => [w, i]));
  const start = flags.start.trim().split(/\s+/).filter((w) => w !== '');
  if (start.length === 0) throw new UsageError('--start needs at least one word');
  const startIds = start.map((w) => {
    const id = wordToId.get(w);
    if (id === undefined) {
      const other = vocab.find((v) => v.toLowerCase() === w.toLowerCase());
      throw new UsageError(`--start: '${w}' is not in the model's vocabulary (${vocab.length} words)${other !== undefined ? `; did you mean '${other}'?` : ''}`);
    }
    return id;
  });
  const banned = new Set<number>();
  for (const w of flags.skip) {
    const id = wordToId.get(w);
    if (id === undefined) throw new UsageError(`--skip: '${w}' is not in the model's vocabulary`);
    banned.add(id);
  }
  const rng = new Random(flags.seed);
  const probs = new Float64Array(model.vocabSize);
  model.resetState();
  // Feed the start words, then one sampled word at a time.
  let scores = model.predict(Int32Array.from(startIds), 1, startIds.length);
  const words = [...start];
  const x = new Int32Array(1);
  const V = model.vocabSize;
  for (let i = 0; i < flags.length; i++) {
    const last = scores.subarray(scores.length - V);
    const id = sampleWord(last, flags.temperature, flags.topK, banned, rng, probs);
    words.push(vocab[id]);
    x[0] = id;
    scores = model.predict(x, 1, 1);
  }
  let text = '';
  let lineStart = true;
  for (const w of words) {
    if (w === EOS) {
      text += '\n';
      lineStart = true;
    } else {
      text += (lineStart ? '' : ' ') + w;
      lineStart = false;
    }
  }
  io.out(text);
}

function list(value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of words.');
  return items;
}

export function generateCommand(run: (file: string, flags: GenerateFlags) => Promise<void>): Command {
  return new Command('generate')
    .description('Sample text from a trained model, word by word (<eos> prints as a line break)')
    .argument('<weights>', 'a .safetensors file written by rnnlm train --save')
    .option('--start <words>', 'the words to start from', 'the')
    .option('--length <n>', 'words to generate', nonNegativeInt, 100)
    .option('--temperature <x>', 'divide the scores by x before the softmax (lower: more predictable; 0: always the most likely word)', nonNegativeNumber, 1.0)
    .option('--top-k <n>', 'sample among the k most likely words only (0 = all)', nonNegativeInt, 0)
    .option('--seed <n>', 'seed of the sampler: the same seed prints the same text', seedInt, 1)
    .option('--skip <words>', 'comma-separated words never to generate', list, [])
    .addOption(new Option('--backend <name>', 'arithmetic backend').choices(BACKEND_NAMES))
    .option('--data-dir <dir>', 'folder with the PTB files (for weights without a vocabulary)')
    .addHelpText('after', `
Examples:
  $ rnnlm generate model.safetensors --start "the meaning of" --length 100
  $ rnnlm generate model.safetensors --start "you say" --temperature 0.8 --top-k 50 --seed 7 --skip "<unk>,N"`)
    .action(async (file: string, opts: GenerateFlags) => run(file, opts));
}

