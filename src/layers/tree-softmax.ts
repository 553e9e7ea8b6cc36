import { resolveBackend, type Backend } from '../backend';
import { ensureF32, expectLength } from './buffers';
import type { LayerOptions } from './embedding';
import { IGNORE_LABEL } from './softmax';

/**
 * A binary Huffman tree over the vocabulary (Mikolov et al. 2013's hierarchical softmax, as word2vec and
 * faster-rnnlm build it): internal nodes 0 .. V-2 (the root is V-2), and for every word the path from the root,
 * `node[start[w] .. start[w+1]-1]`, with the branch taken at each node, `code` (1 or 0). Frequent words get short
 * paths. Deterministic: ties between equal counts go to the lower index.
 */
export interface WordTree {
  V: number;
  start: Int32Array;
  node: Int32Array;
  code: Int32Array;
}

export function huffmanTree(counts: ArrayLike<number>): WordTree {
  const V = counts.length;
  if (V < 2) throw new RangeError(`Expected a vocabulary of at least 2 words for a tree but received ${V}`);
  // Leaves 0..V-1 sorted by count ascending; internal nodes V..2V-2 are made in ascending order of count, so the
  // smallest two are always at the heads of the two queues (the classic two-queue construction).
  const leaves = Int32Array.from({ length: V }, (_, i) => i).sort((a, b) => counts[a] - counts[b] || a - b);
  const weight = new Float64Array(2 * V - 1);
  for (let i = 0; i < V; i++) weight[i] = counts[i];
  const parent = new Int32Array(2 * V - 1).fill(-1);
  const branch = new Uint8Array(2 * V - 1);
  let li = 0, ni = V;
  const pop = (made: number): number => {
    if (li < V && (ni >= made || weight[leaves[li]] <= weight[ni])) return leaves[li++];
    return ni++;
  };
  for (let made = V; made < 2 * V - 1; made++) {
    const a = pop(made), b = pop(made);
    weight[made] = weight[a] + weight[b];
    parent[a] = made;
    parent[b] = made;
    branch[b] = 1;
  }
  // Paths from the root: walk up from each leaf, then reverse.
  const depth = new Int32Array(V);
  for (let w = 0; w < V; w++) for (let n = w; parent[n] >= 0; n = parent[n]) depth[w]++;
  const start = new Int32Array(V + 1);
  for (let w = 0; w < V; w++) start[w + 1] = start[w] + depth[w];
  const node = new Int32Array(start[V]), code = new Int32Array(start[V]);
  for (let w = 0; w < V; w++) {
    let k = start[w + 1];
    for (let n = w; parent[n] >= 0; n = parent[n]) {
      k--;
      node[k] = parent[n] - V;
      code[k] = branch[n];
    }
  }
  return { V, start, node, code };
}

/**
 * TimeTreeSoftmaxWithLoss: the hierarchical softmax over a WordTree. Each internal node n has a vector W[n] [H]
 * and a bias b[n]; at node n, h takes the branch 1 with probability sigmoid(h . W[n] + b[n]). A word's probability
 * is the product along its path, an exactly normalised distribution over the vocabulary, so its perplexity is a
 * true perplexity. A position costs its target's path length (about log2 V) dot products instead of V, and reads
 * only those nodes' vectors: the output layer's cost does not grow with the vocabulary's size.
 *
 * h [N,T,H], ts [N,T] -> loss (the mean over positions whose target is not -1); backward -> dh [N,T,H].
 * W [V-1,H], b [V-1]; params = [W, b]; backward accumulates into the gradients.
 */
export class TimeTreeSoftmaxWithLoss {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  private readonly backend: Backend;
  private h?: Float32Array;
  private R = 0;
  private count = 0;
  private consumed = true;
  private ts = new Int32Array(0);
  /** offsets[r] .. offsets[r+1]-1: row r's path entries in g. */
  private offsets = new Int32Array(1);
  /** Per path entry of the last forward: sigmoid(score) - code, the loss's derivative by the score. */
  private g = new Float32Array(0);
  private dh: Float32Array = new Float32Array(0);
  private scores: Float32Array = new Float32Array(0);

  constructor(W: Float32Array, b: Float32Array, readonly tree: WordTree, readonly H: number,
    opts: LayerOptions & { dW: Float32Array; db: Float32Array }) {
    const nodes = tree.V - 1;
    expectLength('W', W, nodes * H, '(V-1)*H');
    expectLength('b', b, nodes, 'V-1');
    expectLength('dW', opts.dW, nodes * H, '(V-1)*H');
    expectLength('db', opts.db, nodes, 'V-1');
    this.backend = resolveBackend(opts.backend);
    this.params = [W, b];
    this.grads = [opts.dW, opts.db];
  }

  get V(): number {
    return this.tree.V;
  }

  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    const R = N * T, { H, tree } = this;
    expectLength('h', h, R * H, 'N*T*H');
    expectLength('ts', ts, R, 'N*T');
    if (this.ts.length !== R) {
      this.ts = new Int32Array(R);
      this.offsets = new Int32Array(R + 1);
    }
    this.ts.set(ts);
    let count = 0;
    for (let r = 0; r < R; r++) {
      const t = ts[r];
      let len = 0;
      if (t !== IGNORE_LABEL) {
        if (!(Number.isInteger(t) && t >= 0 && t < tree.V)) throw new RangeError(`Expected ts[${r}] in [0, ${tree.V}) or -1 but received ${t}`);
        len = tree.start[t + 1] - tree.start[t];
        count++;
      }
      this.offsets[r + 1] = this.offsets[r] + len;
    }
    if (this.g.length < this.offsets[R]) this.g = new Float32Array(this.offsets[R]);
    this.h = h;
    this.R = R;
    this.count = count;
    this.consumed = false;
    const lossSum = this.backend.treeSoftmaxForward(this.g, h, this.params[0], this.params[1], this.ts, this.offsets, tree.start, tree.node, tree.code, R, H, tree.V);
    return count === 0 ? 0 : lossSum / count;
  }

  /** dh [N,T,H] of loss * dout; adds to dW and db. */
  backward(dout = 1): Float32Array {
    if (this.consumed || !this.h) throw new Error('TimeTreeSoftmaxWithLoss.backward needs a forward first');
    this.consumed = true;
    const { R, H, tree } = this;
    this.dh = ensureF32(this.dh, R * H);
    const scale = this.count === 0 ? 0 : dout / this.count;
    this.backend.treeSoftmaxBackward(this.dh, this.grads[0], this.grads[1], this.g, scale, this.h, this.params[0], this.ts, this.offsets,
      tree.start, tree.node, R, H, tree.V);
    return this.dh;
  }

  /**
   * The log-probability of every word [R,V] into `out`, for h [R,H] (exact: every path's branch log-sigmoids
   * summed): the next-word distribution for generation and scoring.
   */
  logProbs(out: Float32Array, h: Float32Array, R: number): Float32Array {
    const { H, tree } = this, nodes = tree.V - 1;
    expectLength('out', out, R * tree.V, 'R*V');
    this.scores = ensureF32(this.scores, R * nodes);
    // scores = h W^T + b: [R,H] x [H,V-1].
    this.backend.sgemm(false, true, R, nodes, H, 1, h, H, this.params[0], H, 0, this.scores, nodes);
    const b = this.params[1], s = this.scores;
    for (let r = 0; r < R; r++) {
      const row = r * nodes;
      for (let w = 0; w < tree.V; w++) {
        let lp = 0;
        for (let k = tree.start[w]; k < tree.start[w + 1]; k++) {
          const z = s[row + tree.node[k]] + b[tree.node[k]];
          lp += logSigmoid(tree.code[k] === 1 ? z : -z);
        }
        out[r * tree.V + w] = lp;
      }
    }
    return out;
  }

  /**
   * Marks in `seen` the nodes on the paths of targets ts (ids outside [0, V) are left to forward to refuse): the
   * rows of W and b that a backward of these targets writes.
   */
  markNodes(ts: Int32Array, seen: Uint8Array): void {
    const { start, node, V } = this.tree;
    for (let r = 0; r < ts.length; r++) {
      const t = ts[r];
      if (!(t >= 0 && t < V)) continue;
      for (let k = start[t]; k < start[t + 1]; k++) seen[node[k]] = 1;
    }
  }
}

/** log sigmoid(z), without overflow for large |z|. */
export function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}
