/**
 * The tree output layer (hierarchical softmax): the Huffman tree is a complete prefix code with frequent words on
 * short paths; the layer is an exact distribution whose mean at the targets is the loss; gradients by finite
 * differences; js vs native; the native boundary refuses what would read outside its buffers; a model with tree
 * output trains, its serial passes over the gradient's support equal the dense ones, and it survives a weights file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GradientSupport, LanguageModel, parseWeights, sgdStep, weightsToBytes, jsBackend, type Backend, type TreeHead } from '../src';
import { huffmanTree, logSigmoid, TimeTreeSoftmaxWithLoss } from '../src/layers/tree-softmax';
import { backends, expectClose, lossAndGrads, randomArray, randomIds, rnnlm } from './helpers';

const N = 3, T = 4, H = 6;
const COUNTS = [40, 1, 7, 7, 3, 12, 2, 2, 9, 1, 5];
const V = COUNTS.length;

function layer(backend: Backend, seed = 1): TimeTreeSoftmaxWithLoss {
  const W = randomArray((V - 1) * H, seed).map((x) => 2 * x), b = randomArray(V - 1, seed + 1);
  return new TimeTreeSoftmaxWithLoss(W, b, huffmanTree(COUNTS), H, { backend, dW: new Float32Array((V - 1) * H), db: new Float32Array(V - 1) });
}

describe('huffmanTree', () => {
  it('is a complete prefix code over the words, frequent words on paths no longer than rarer ones', () => {
    const t = huffmanTree(COUNTS);
    const codes = Array.from({ length: V }, (_, w) => Array.from(t.code.subarray(t.start[w], t.start[w + 1])).join(''));
    for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) if (a !== b) expect(codes[b].startsWith(codes[a])).toBe(false);
    expect(codes.reduce((s, c) => s + 2 ** -c.length, 0)).toBe(1); // Kraft: every leaf of a full binary tree
    for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) if (COUNTS[a] > COUNTS[b]) expect(codes[a].length).toBeLessThanOrEqual(codes[b].length);
    // Every path starts at the root (V-2) and visits each internal node at most once.
    for (let w = 0; w < V; w++) {
      const nodes = Array.from(t.node.subarray(t.start[w], t.start[w + 1]));
      expect(nodes[0]).toBe(V - 2);
      expect(new Set(nodes).size).toBe(nodes.length);
    }
    // Expected code length within one bit of the entropy (Huffman's bound).
    const total = COUNTS.reduce((a, b) => a + b, 0);
    const mean = COUNTS.reduce((s, c, w) => s + (c / total) * codes[w].length, 0);
    const entropy = COUNTS.reduce((s, c) => s - (c / total) * Math.log2(c / total), 0);
    expect(mean).toBeGreaterThanOrEqual(entropy);
    expect(mean).toBeLessThan(entropy + 1);
    expect(huffmanTree(COUNTS)).toEqual(t);
    expect(() => huffmanTree([3])).toThrow(/at least 2 words/);
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('TimeTreeSoftmaxWithLoss on %s', (_n, backend) => {
  it('is a distribution over the vocabulary whose mean at the targets is the loss', () => {
    const l = layer(backend);
    const h = randomArray(N * T * H, 5).map((x) => 3 * x);
    const ts = randomIds(N * T, V, 6);
    ts[2] = -1;
    const lp = l.logProbs(new Float32Array(N * T * V), h, N * T);
    let nll = 0;
    for (let r = 0; r < N * T; r++) {
      let sum = 0;
      for (let w = 0; w < V; w++) sum += Math.exp(lp[r * V + w]);
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
      if (ts[r] !== -1) nll -= lp[r * V + ts[r]];
    }
    expect(l.forward(h, ts, N, T)).toBeCloseTo(nll / (N * T - 1), 5);
  });

  it('has the gradients of finite differences', () => {
    const l = layer(backend, 3);
    const h = randomArray(N * T * H, 7);
    const ts = randomIds(N * T, V, 8);
    ts[5] = -1;
    l.forward(h, ts, N, T);
    const dh = Float32Array.from(l.backward(2));
    const [W, b] = l.params, [dW, db] = l.grads;
    const loss = (): number => 2 * l.forward(h, ts, N, T);
    const eps = 1e-2;
    for (const [name, x, g] of [['h', h, dh], ['W', W, dW], ['b', b, db]] as const) {
      for (let i = 0; i < x.length; i += Math.max(1, Math.floor(x.length / 20))) {
        const old = x[i];
        x[i] = old + eps;
        const up = loss();
        x[i] = old - eps;
        const down = loss();
        x[i] = old;
        const numeric = (up - down) / (2 * eps);
        if (!(Math.abs(numeric - g[i]) <= 2e-3 + 2e-2 * Math.abs(numeric))) throw new Error(`${name}[${i}]: analytic ${g[i]} vs numeric ${numeric}`);
      }
    }
  });

  it('equals the js backend', () => {
    const a = layer(backend, 11), ref = layer(jsBackend, 11);
    const h = randomArray(N * T * H, 12);
    const ts = randomIds(N * T, V, 13);
    expect(a.forward(h, ts, N, T)).toBeCloseTo(ref.forward(h, ts, N, T), 5);
    expectClose('dh', a.backward(0.5), ref.backward(0.5), 1e-5);
    expectClose('dW', a.grads[0], ref.grads[0], 1e-5);
    expectClose('db', a.grads[1], ref.grads[1], 1e-5);
  });

  it('refuses arguments that would read or write outside the buffers', () => {
    const t = huffmanTree(COUNTS);
    const g = new Float32Array(64), h = new Float32Array(2 * H), W = new Float32Array((V - 1) * H), b = new Float32Array(V - 1);
    const ts = Int32Array.from([0, 3]);
    const offsets = Int32Array.from([0, t.start[1] - t.start[0], t.start[1] - t.start[0] + t.start[4] - t.start[3]]);
    const call = (o: Partial<{ ts: Int32Array; offsets: Int32Array; node: Int32Array; code: Int32Array; g: Float32Array }>): number =>
      backend.treeSoftmaxForward(o.g ?? g, h, W, b, o.ts ?? ts, o.offsets ?? offsets, t.start, o.node ?? t.node, o.code ?? t.code, 2, H, V);
    expect(Number.isFinite(call({}))).toBe(true);
    expect(() => call({ ts: Int32Array.from([0, V]) })).toThrow(/Expected ts\[1\] in \[0, 11\) or -1 but received 11/);
    expect(() => call({ offsets: Int32Array.from([0, 1, 2]) })).toThrow(/offsets/);
    expect(() => call({ node: Int32Array.from(t.node, (n, k) => (k === t.start[3] ? V - 1 : n)) })).toThrow(/node\[/);
    expect(() => call({ code: Int32Array.from(t.code, (c, k) => (k === t.start[0] ? 2 : c)) })).toThrow(/code\[/);
    expect(() => call({ g: new Float32Array(1) })).toThrow(/within g/);
    expect(() => backend.treeSoftmaxForward(g, h, W, b, ts, offsets, t.start, t.node, t.code, 2, H, 1)).toThrow(/for V/);
  });
});

describe.each(backends().map((b) => [b.name, b] as const))('a model with tree output on %s', (_n, backend) => {
  const counts = Array.from({ length: 30 }, (_, w) => Math.floor(300 / (w + 1)));
  const config = { cell: 'lstm' as const, vocabSize: 30, wordvecSize: 8, hiddenSize: 8, output: 'tree' as const, treeCounts: counts };

  it('skips the untouched node rows in the serial passes and gets the dense answers', () => {
    const model = new LanguageModel(config, { backend, seed: 4, weightInit: 'pytorch' });
    model.param('tree.W').set(randomArray(29 * 8, 9));
    const xs = randomIds(2 * 5, 30, 1), ts = randomIds(2 * 5, 30, 2);
    const { grads } = lossAndGrads(model, xs, ts, 2, 5, 0);
    const support = new GradientSupport(model).setIds(xs, ts);
    expect(support.sumSquares(backend, model.flatGrads)).toBeCloseTo(backend.sumSquares(grads), 6);
    const dense = Float32Array.from(model.flatParams);
    backend.sgdUpdate(dense, Float32Array.from(grads), 0.5);
    for (const s of support.spans()) sgdStep(backend, model.flatParams, model.flatGrads, 0.5, true, s);
    expectClose('params', model.flatParams, dense, 1e-6);
    expect(model.flatGrads.every((g) => g === 0)).toBe(true);
    // Rows off the targets' paths were never written.
    const tree = (model.head as TreeHead).layer.tree, onPath = new Set<number>();
    for (const t of ts) for (let k = tree.start[t]; k < tree.start[t + 1]; k++) onPath.add(tree.node[k]);
    for (let n = 0; n < 29; n++) if (!onPath.has(n)) expect(Array.from(grads.subarray(model.specs.find((s) => s.name === 'tree.W')!.offset + n * 8, model.specs.find((s) => s.name === 'tree.W')!.offset + (n + 1) * 8)).every((g) => g === 0)).toBe(true);
  });

  it('survives a weights file, and predicts what its loss says', () => {
    const model = new LanguageModel(config, { backend, seed: 5, weightInit: 'pytorch' });
    model.param('tree.W').set(randomArray(29 * 8, 10));
    const back = parseWeights(weightsToBytes(model), 'x');
    expect(back.config).toEqual(model.config);
    const xs = randomIds(6, 30, 3), ts = randomIds(6, 30, 4);
    const loss = model.evaluator().forward(xs, ts, 1, 6);
    model.resetState();
    const lp = model.predict(xs, 1, 6);
    expect(-Array.from(ts).reduce((s, t, r) => s + lp[r * 30 + t], 0) / 6).toBeCloseTo(loss, 5);
    expect(logSigmoid(-800)).toBe(-800);
  });
});

describe('rnnlm train --output tree', () => {
  it('trains, saves, generates, and refuses --tied and the exports', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-tree-'));
    const save = path.join(tmp, 'tree.safetensors');
    const r = rnnlm('train', '--output', 'tree', '--corpus-size', '20000', '--batch-size', '20', '--time-size', '35', '--lr', '4', '--max-grad', '0.25',
      '--weight-init', 'pytorch', '--max-epoch', '4', '--save', save);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/model rnn 100\/100, tree output/);
    const ppl = r.out.match(/\| epoch \d+ \| perplexity ([\d.]+)/g)!.map((l) => Number(/perplexity ([\d.]+)/.exec(l)![1]));
    expect(ppl[3]).toBeLessThan(0.9 * ppl[0]);
    const g = rnnlm('generate', save, '--length', '20', '--seed', '1');
    expect(g.err).toBe('');
    expect(g.code).toBe(0);
    expect(g.out.trim().split(/\s+/).length).toBeGreaterThan(5);
    const t = rnnlm('train', '--output', 'tree', '--tied', '--max-epoch', '1');
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/--tied does not go with --output tree/);
    const x = rnnlm('export', save, '--onnx', path.join(tmp, 'x.onnx'));
    expect(x.code).toBe(1);
    expect(x.err).toMatch(/not the tree output layer/);
  });
});
