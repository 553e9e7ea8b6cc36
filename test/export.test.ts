/**
 * Exports. ONNX, checked by running the exported file with ONNX Runtime (an independent reader of the format and an
 * independent implementation of RNN, LSTM and GRU): the log-probabilities and next state agree with the model's
 * own for every cell, stacked and tied, and `rnnlm export` + ONNX Runtime give the scores of `rnnlm score` on
 * Penn Treebank test sentences. PyTorch, checked by PyTorch's own formulas for nn.RNN / nn.LSTM / nn.Linear
 * (gate order i, f, g, o; two biases) computed here from the exported state_dict.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exportOnnx, LanguageModel, parseSafetensors, readWeights, saveWeights, type ModelConfig, type Tensor } from '../src';
import { PTB_DIR, ROOT, randomArray } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-onnx-'));

interface OrtTensor { dims: number[]; data: number[] }

/** Runs test/support/onnx-run.js (ONNX Runtime in its own process) on one request. */
function onnxRun(request: object): Record<string, OrtTensor> & { inputNames: string[]; outputNames: string[]; sums: number[] } {
  const r = spawnSync(process.execPath, [path.join(__dirname, 'support', 'onnx-run.js')], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`onnx-run failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Natural log-softmax of every row of scores [R, V]. */
function logSoftmax(scores: Float32Array, V: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let r = 0; r < scores.length / V; r++) {
    let m = -Infinity, z = 0;
    for (let j = 0; j < V; j++) m = Math.max(m, scores[r * V + j]);
    for (let j = 0; j < V; j++) z += Math.exp(scores[r * V + j] - m);
    for (let j = 0; j < V; j++) out[r * V + j] = scores[r * V + j] - m - Math.log(z);
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('exportOnnx', () => {
  const cases: [string, Partial<ModelConfig>][] = [
    ['rnn', { cell: 'rnn', layers: 1 }],
    ['rnn, 2 layers, tied', { cell: 'rnn', layers: 2, tied: true }],
    ['lstm', { cell: 'lstm', layers: 1 }],
    ['lstm, 2 layers, tied', { cell: 'lstm', layers: 2, tied: true }],
    ['gru', { cell: 'gru', layers: 1 }],
    ['gru, 3 layers', { cell: 'gru', layers: 3 }],
  ];
  it.each(cases)('%s: ONNX Runtime computes the model\'s log-probabilities and next state from any state', (_name, c) => {
    const V = 37, D = 12, H = 12, N = 3, T = 6;
    const model = new LanguageModel({ vocabSize: V, wordvecSize: D, hiddenSize: H, dropout: 0.5, ...c } as ModelConfig, { backend: 'js', seed: 3, weightInit: 'pytorch' });
    // Weights of order 1 so that every gate works away from its linear range.
    model.flatParams.set(randomArray(model.flatParams.length, 11).map((v) => v * 0.8));
    const file = path.join(tmp, `${c.cell}-${c.layers}.onnx`);
    fs.writeFileSync(file, exportOnnx(model.config, new Map(model.specs.map((s, i) => [s.name, model.params[i]])), { vocab: Array.from({ length: V }, (_, i) => `w${i}`) }));
    const xs = Int32Array.from({ length: N * T }, (_, i) => (i * 7 + 3) % V);
    const state = model.stateNames.map((_, k) => randomArray(N * H, 20 + k));
    const feeds: Record<string, object> = { ids: { type: 'int64', dims: [N, T], data: Array.from(xs) } };
    model.stateNames.forEach((n, k) => { feeds[`state.${n}`] = { type: 'float32', dims: [N, H], data: Array.from(state[k]) }; });
    const out = onnxRun({ model: file, feeds });
    expect(out.inputNames).toEqual(['ids', ...model.stateNames.map((n) => `state.${n}`)]);
    expect(out.outputNames).toEqual(['log_probs', ...model.stateNames.map((n) => `next_state.${n}`)]);
    model.eval();
    model.setState(state);
    const ref = logSoftmax(model.predict(xs, N, T), V);
    expect(out.log_probs.dims).toEqual([N, T, V]);
    expect(maxAbsDiff(out.log_probs.data, ref)).toBeLessThan(1e-5);
    const next = model.getState()!;
    model.stateNames.forEach((n, k) => expect(maxAbsDiff(out[`next_state.${n}`].data, next[k])).toBeLessThan(1e-6));
  });

  it('refuses tensors of the wrong size and a vocabulary of the wrong length', () => {
    const model = new LanguageModel({ cell: 'lstm', vocabSize: 5, wordvecSize: 4, hiddenSize: 4 }, { backend: 'js' });
    const tensors = new Map(model.specs.map((s, i) => [s.name, model.params[i]]));
    expect(() => exportOnnx(model.config, tensors, { vocab: ['a'] })).toThrow('vocabulary has 1 words but the model 5');
    tensors.set('lstm.0.Wh', new Float32Array(3));
    expect(() => exportOnnx(model.config, tensors)).toThrow('Expected tensor lstm.0.Wh of 64 floats for the ONNX export');
  });
});

describe('rnnlm export --onnx', () => {
  const CLI = path.join(ROOT, 'dist', 'cli.js');
  const env = { ...process.env, PTB_DIR };
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env });
  const W = path.join(tmp, 'lm.safetensors');
  const O = path.join(tmp, 'lm.onnx');

  it('gives the scores of rnnlm score on Penn Treebank test sentences (1e-4), state carried or not', () => {
    expect(run(['train', '--model', 'lstm', '--num-layers', '2', '--tied', '--corpus-size', '20000', '--full-vocab', '--max-iters', '20',
      '--hidden-size', '32', '--wordvec-size', '32', '--lr', '1', '--max-grad', '0.25', '--save', W]).status).toBe(0);
    const r = run(['export', W, '--onnx', O]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*lm\.onnx \([\d.]+ MiB\): ONNX opset 17, lstm x 2, vocabulary 10000, hidden 32, tied/);
    const text = fs.readFileSync(path.join(PTB_DIR, 'ptb.test.txt'), 'utf8').split('\n').slice(0, 40).map((l) => l.trim());
    const file = path.join(tmp, 'test-sentences.txt');
    fs.writeFileSync(file, text.join('\n') + '\n');
    // The vocabulary travels in the file's metadata_props (ONNX Runtime for Node.js does not expose them, so the
    // bytes are looked for); the ids below come from it.
    const words = readWeights(W).vocab!;
    expect(words).toHaveLength(10000);
    expect(fs.readFileSync(O).includes(Buffer.from(JSON.stringify(words)))).toBe(true);
    const id = new Map(words.map((w, i) => [w, i]));
    const eos = id.get('<eos>')!;
    const sentences = text.map((l) => l.split(/\s+/).map((w) => id.get(w)!));
    for (const independent of [true, false]) {
      const s = run(['score', W, file, ...(independent ? ['--independent'] : [])]);
      expect(s.status).toBe(0);
      const scored = s.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => Number(l.split('\t')[1]));
      expect(scored).toHaveLength(40);
      const { sums } = onnxRun({ model: O, sentences, eos, hidden: 32, carry: !independent });
      // rnnlm score prints 4 decimals (5e-5); float32 arithmetic over about 25 words adds a few 1e-6 of the total.
      sums.forEach((v, k) => expect(Math.abs(v - scored[k])).toBeLessThan(1e-4 + 1e-6 * Math.abs(scored[k])));
    }
  });

  it('says what is wrong with a missing output, folder or weights file', () => {
    expect(run(['export', W])).toMatchObject({ status: 2, stderr: 'rnnlm: export needs an output: --onnx FILE or --pytorch FILE\n' });
    expect(run(['export', W, '--onnx', path.join(tmp, 'no', 'x.onnx')]).stderr).toMatch(/^rnnlm: cannot write .*x\.onnx: folder .*no does not exist\n$/);
    expect(run(['export', path.join(tmp, 'none.safetensors'), '--onnx', O])).toMatchObject({ status: 1, stderr: expect.stringMatching(/^rnnlm: cannot read weights file .*none\.safetensors: no such file\n$/) });
  });
});

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * PyTorch word_language_model's RNNModel.forward (eval mode) from its state_dict, written from PyTorch's documented
 * formulas: nn.RNN h' = tanh(W_ih x + b_ih + W_hh h + b_hh); nn.LSTM gates i, f, g, o of W_ih x + b_ih + W_hh h +
 * b_hh, c' = f c + i g, h' = o tanh(c'); decoder W x + b; log_softmax. xs [N, T]; state per layer h (and c) [N, H].
 */
function torchForward(sd: Map<string, Tensor>, lstm: boolean, layers: number, xs: Int32Array, N: number, T: number, state: Float32Array[]): Float64Array {
  const [V, D] = sd.get('encoder.weight')!.shape;
  const H = sd.get('rnn.weight_hh_l0')!.shape[1];
  const S = lstm ? 2 : 1;
  const logits = new Float32Array(N * T * V);
  for (let n = 0; n < N; n++) {
    const h = Array.from({ length: layers }, (_, l) => Array.from(state[l * S].subarray(n * H, n * H + H)));
    const c = Array.from({ length: layers }, (_, l) => (lstm ? Array.from(state[l * S + 1].subarray(n * H, n * H + H)) : []));
    for (let t = 0; t < T; t++) {
      const id = xs[n * T + t];
      let x = Array.from(sd.get('encoder.weight')!.data.subarray(id * D, id * D + D));
      for (let l = 0; l < layers; l++) {
        const [Wih, Whh, bih, bhh] = ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((k) => sd.get(`rnn.${k}_l${l}`)!.data);
        const GH = bih.length, I = x.length;
        const g = new Float64Array(GH);
        for (let r = 0; r < GH; r++) {
          let v = bih[r] + bhh[r];
          for (let k = 0; k < I; k++) v += Wih[r * I + k] * x[k];
          for (let k = 0; k < H; k++) v += Whh[r * H + k] * h[l][k];
          g[r] = v;
        }
        for (let j = 0; j < H; j++) {
          if (!lstm) {
            h[l][j] = Math.tanh(g[j]);
            continue;
          }
          c[l][j] = sigmoid(g[H + j]) * c[l][j] + sigmoid(g[j]) * Math.tanh(g[2 * H + j]);
          h[l][j] = sigmoid(g[3 * H + j]) * Math.tanh(c[l][j]);
        }
        x = h[l].slice();
      }
      const W = sd.get('decoder.weight')!.data, b = sd.get('decoder.bias')!.data;
      for (let v = 0; v < V; v++) {
        let s = b[v];
        for (let k = 0; k < H; k++) s += W[v * H + k] * x[k];
        logits[(n * T + t) * V + v] = s;
      }
    }
  }
  return logSoftmax(logits, V);
}

describe('rnnlm export --pytorch', () => {
  const CLI = path.join(ROOT, 'dist', 'cli.js');
  const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const cases: [string, Partial<ModelConfig>][] = [
    ['rnn', { cell: 'rnn', layers: 1 }],
    ['lstm, 2 layers', { cell: 'lstm', layers: 2 }],
    ['lstm, 2 layers, tied', { cell: 'lstm', layers: 2, tied: true }],
  ];
  it.each(cases)('%s: PyTorch\'s formulas on the exported state_dict give the model\'s log-probabilities', (name, c) => {
    const V = 29, H = 10, N = 2, T = 5;
    const model = new LanguageModel({ vocabSize: V, wordvecSize: H, hiddenSize: H, ...c } as ModelConfig, { backend: 'js', seed: 5 });
    model.flatParams.set(randomArray(model.flatParams.length, 17).map((v) => v * 0.8));
    const W = path.join(tmp, `torch-${name.replace(/\W+/g, '-')}.safetensors`), P = W.replace('.safetensors', '.pt.safetensors');
    saveWeights(W, model, Array.from({ length: V }, (_, i) => `w${i}`));
    const r = run(['export', W, '--pytorch', P]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`RNNModel('${c.cell === 'lstm' ? 'LSTM' : 'RNN_TANH'}', ${V}, ${H}, ${H}, ${c.layers}, tie_weights=${c.tied ? 'True' : 'False'})`);
    const file = parseSafetensors(fs.readFileSync(P));
    const names = ['encoder.weight', ...Array.from({ length: c.layers! }, (_, l) => ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map((k) => `rnn.${k}_l${l}`)).flat(), 'decoder.weight', 'decoder.bias'];
    expect([...file.tensors.keys()].sort()).toEqual(names.sort());
    expect(file.metadata).toMatchObject({ rnn_type: c.cell === 'lstm' ? 'LSTM' : 'RNN_TANH', ntoken: String(V), nlayers: String(c.layers), tie_weights: String(!!c.tied) });
    const xs = Int32Array.from({ length: N * T }, (_, i) => (i * 5 + 2) % V);
    const state = model.stateNames.map((_, k) => randomArray(N * H, 40 + k));
    model.eval();
    model.setState(state);
    const ref = logSoftmax(model.predict(xs, N, T), V);
    expect(maxAbsDiff(torchForward(file.tensors, c.cell === 'lstm', c.layers!, xs, N, T, state), ref)).toBeLessThan(1e-5);
  });

  it('refuses a GRU, which PyTorch\'s nn.GRU cannot express, and writes nothing', () => {
    const model = new LanguageModel({ cell: 'gru', vocabSize: 5, wordvecSize: 4, hiddenSize: 4 }, { backend: 'js' });
    const W = path.join(tmp, 'gru.safetensors'), P = path.join(tmp, 'gru.pt.safetensors'), O = path.join(tmp, 'gru-both.onnx');
    saveWeights(W, model);
    const r = run(['export', W, '--pytorch', P, '--onnx', O]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^rnnlm: PyTorch's nn\.GRU applies the reset gate after the recurrent product .* export it with --onnx\n$/);
    expect(fs.existsSync(P) || fs.existsSync(O)).toBe(false);
  });
});
