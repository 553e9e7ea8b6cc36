/**
 * Files and runs that must not be lost or corrupt anything: stale temporary files of killed writers are cleaned
 * up, checkpoints are validated field by field, vocabularies and size metadata must agree with the tensors, a
 * closed pipe ends output quietly, and hundreds of random mutations of a weights file and a checkpoint end in a
 * clean refusal or a model with finite output.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LanguageModel, WeightsFormatError, evalPerplexity, jsBackend, modelFromWeights, parseSafetensors, parseWeights,
  serializeSafetensors, weightsToBytes, writeFileAtomic,
} from '../src';
import { checkpointBytes, readCheckpoint, type RunConfig } from '../src/cli/checkpoint';
import { PTB_DIR, ROOT, randomIds } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-robust-'));
const CLI = path.join(ROOT, 'dist', 'cli.js');

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: 6, wordvecSize: 4, hiddenSize: 4, tied: true, dropout: 0.1 }, { backend: jsBackend, seed: 1 });
model.forward(randomIds(6, 6, 1), randomIds(6, 6, 2), 2, 3);
const VOCAB = ['a', 'b', 'c', 'd', 'e', '<eos>'];
const CONFIG: RunConfig = {
  data: { kind: 'text', file: 'x.txt' }, fingerprint: 'f'.repeat(64), batchSize: 2, timeSize: 3, wordvecSize: 4, hiddenSize: 4,
  cell: 'lstm', numLayers: 2, dropout: 0.1, tied: true, weightInit: 'book', lr: 1, maxEpoch: 3, seed: 0, evalInterval: 1, valid: false,
};
const TRAINER = { epoch: 1, iter: 2, timeIdx: 6, epochLoss: 3.5, reportLoss: 0, reportCount: 0, elapsedS: 0.1 };
const goodCkpt = checkpointBytes(model, { config: CONFIG, trainer: TRAINER, lr: 1, bestValPpl: 5, vocab: VOCAB, history: [], logBytes: 0 });

/** The checkpoint with one metadata field replaced (or removed with undefined). */
function withMeta(bytes: Uint8Array, key: string, value: string | undefined): string {
  const f = parseSafetensors(bytes);
  if (value === undefined) delete f.metadata[key];
  else f.metadata[key] = value;
  const file = path.join(tmp, `mutated-${key}.ckpt`);
  fs.writeFileSync(file, serializeSafetensors([...f.tensors.entries()], f.metadata));
  return file;
}

describe('checkpoints are validated field by field', () => {
  it('reads a good one', () => {
    const file = path.join(tmp, 'good.ckpt');
    fs.writeFileSync(file, goodCkpt);
    const c = readCheckpoint(file);
    expect(c.state).toHaveLength(4);
    expect(c.config.cell).toBe('lstm');
  });

  const { timeSize: _t, ...noTimeSize } = CONFIG;
  it.each([
    ['best_val_ppl', '1e999', /'best_val_ppl' is Infinity, not a perplexity/],
    ['config', JSON.stringify(noTimeSize), /config field 'timeSize' is missing, not a positive integer/],
    ['config', JSON.stringify({ ...CONFIG, hiddenSize: 5 }), /config' says wordvec 4, hidden 5 but the weights have 4, 4/],
    ['config', JSON.stringify({ ...CONFIG, seed: -1 }), /'seed' is -1, not an integer/],
    ['config', JSON.stringify({ ...CONFIG, cell: 'gru' }), /does not match the architecture of its weights/],
    ['trainer', JSON.stringify({ ...TRAINER, epoch: 0 }), /trainer state has epoch = 0/],
    ['vocab', JSON.stringify(['a', 'b', 'a', 'd', 'e', 'f']), /"a" twice \(ids 0 and 2\)/],
    ['lr', '-1', /'lr' is malformed/],
    ['vocab_size', '7', /__metadata__.vocab_size says 7 but the tensors say 6/],
  ])('refuses %s = %s', (key, value, message) => {
    expect(() => readCheckpoint(withMeta(goodCkpt, key, value))).toThrow(message);
  });
});

describe('weights files', () => {
  it('refuse a vocabulary with a word twice', () => {
    expect(() => parseWeights(weightsToBytes(model, ['a', 'b', 'c', 'b', 'e', 'f']), 'w')).toThrow('w: __metadata__.vocab has "b" twice (ids 1 and 3)');
  });

  it.each([['weights', weightsToBytes(model, VOCAB)], ['checkpoint', goodCkpt]] as const)(
    '300 random mutations of a %s end in a clean refusal or a model with finite output', (kind, good) => {
      const rnd = xorshift(kind === 'weights' ? 7 : 8);
      const counts = { refused: 0, loaded: 0 };
      for (let i = 0; i < 300; i++) {
        const b = Uint8Array.from(good);
        const roll = rnd();
        let bytes: Uint8Array = b;
        if (roll < 0.2) bytes = b.subarray(0, Math.floor(rnd() * b.length)); // truncated
        else {
          const n = 1 + Math.floor(rnd() * 4);
          // Mostly inside the header (where the structure is), sometimes in the data.
          const hlen = Number(new DataView(b.buffer).getBigUint64(0, true));
          for (let k = 0; k < n; k++) {
            const at = rnd() < 0.8 ? Math.floor(rnd() * (8 + hlen)) : 8 + hlen + Math.floor(rnd() * (b.length - 8 - hlen));
            b[at] = rnd() < 0.5 ? Math.floor(rnd() * 256) : b[at] ^ (1 << Math.floor(rnd() * 8));
          }
        }
        const file = path.join(tmp, `fuzz.${kind}`);
        fs.writeFileSync(file, bytes);
        try {
          const w = kind === 'weights' ? parseWeights(fs.readFileSync(file), file) : readCheckpoint(file).weights;
          const m = modelFromWeights(w, { backend: jsBackend });
          let ppl: number;
          try {
            ppl = evalPerplexity(m, randomIds(40, m.vocabSize, 3), 2, 3);
          } catch (e) {
            expect((e as Error).message).toMatch(/scores are not finite/);
            counts.refused++;
            continue;
          }
          expect(Number.isFinite(ppl)).toBe(true);
          counts.loaded++;
        } catch (e) {
          if (!(e instanceof WeightsFormatError)) throw new Error(`mutation ${i}: ${String(e)}`, { cause: e });
          expect((e as Error).message.split('\n')).toHaveLength(1);
          counts.refused++;
        }
      }
      expect(counts.refused + counts.loaded).toBe(300);
      expect(counts.refused).toBeGreaterThan(100);
    });
});

describe('weights whose forward overflows', () => {
  it('are refused by eval, generate and train --init with a message about the weights', () => {
    const m = new LanguageModel({ vocabSize: 418, wordvecSize: 8, hiddenSize: 8 }, { backend: jsBackend, seed: 2 });
    // Every weight finite, but h saturates at 1 and word 0's score, the sum of eight 3e38, overflows float32.
    m.param('rnn.0.b').fill(10);
    for (let j = 0; j < 8; j++) m.param('affine.W')[j * 418] = 3e38;
    const file = path.join(tmp, 'overflow.safetensors');
    fs.writeFileSync(file, weightsToBytes(m));
    const text = path.join(tmp, 'few.txt');
    fs.writeFileSync(text, fs.readFileSync(path.join(PTB_DIR, 'ptb.train.txt'), 'utf8').split('\n').slice(0, 40).join('\n'));
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, PTB_DIR } });
    const g = run('generate', file, '--length', '5');
    expect(g.status).toBe(1);
    expect(g.stderr).toMatch(/^rnnlm: the model's scores are not finite .*: its weights overflow\n$/);
    const e = run('eval', file, '--text', text, '--batch-size', '2', '--time-size', '5');
    expect(e.status).toBe(1);
    expect(e.stderr).toMatch(/^rnnlm: the model's scores are not finite/);
    const t = run('train', '--init', file, '--max-epoch', '1');
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/^rnnlm: the initial weights give a loss of \S+ on the first batch, before any update: they overflow\n$/);
  });
});

describe('temporary files', () => {
  it("removes a killed writer's temporary file and keeps a running writer's", () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const stale = path.join(dir, `.run.ckpt.${dead}.1700000000000.tmp`);
    const live = path.join(dir, `.run.ckpt.${process.ppid}.1700000000001.tmp`);
    fs.writeFileSync(stale, 'x');
    fs.writeFileSync(live, 'y');
    writeFileAtomic(path.join(dir, 'run.ckpt'), 'data');
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(live), 'run.ckpt'].sort());
  });

  it('12 SIGKILLs during checkpointing leave at most one temporary file and a valid checkpoint', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'kill-'));
    const ckpt = path.join(dir, 'run.ckpt');
    const rnd = xorshift(5);
    for (let k = 0; k < 12; k++) {
      // A small run that checkpoints after every epoch, many times a second.
      const child = spawn(process.execPath, [CLI, 'train', '--corpus-size', '3000', '--max-epoch', '100000', '--checkpoint', ckpt,
        '--hidden-size', '300', '--wordvec-size', '300', '--eval-interval', '1000'], { env: { ...process.env, PTB_DIR } });
      // After the first epoch's checkpoint (the second epoch's first report comes after it), at a random moment.
      let out = '';
      await new Promise<void>((resolve) => child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('| epoch 2 | iter 1 /')) resolve();
      }));
      await new Promise((resolve) => setTimeout(resolve, rnd() * 300));
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
    }
    const temps = fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));
    expect(temps.length).toBeLessThanOrEqual(1);
    expect(readCheckpoint(ckpt).config.hiddenSize).toBe(300);
  });
});

describe('closed pipes', () => {
  it.each([['info'], ['help train'], ['train --max-epoch 50']])('`rnnlm %s | head -1` ends quietly', (cmd) => {
    const r = spawnSync('bash', ['-c', `node ${CLI} ${cmd} | head -c 20 >/dev/null; echo "\${PIPESTATUS[0]}"`], {
      encoding: 'utf8', env: { ...process.env, PTB_DIR },
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('0');
  });
});
