import { BatchCutter, evalPerplexity, SimpleRnnlm } from '../src';

/** The book's RnnlmTrainer.get_batch, transcribed loop for loop. */
function bookGetBatch(x: number[], t: number[], batchSize: number, timeSize: number, state: { timeIdx: number }) {
  const bx: number[][] = [], bt: number[][] = [];
  const size = x.length;
  const jump = Math.floor(size / batchSize);
  const offsets = Array.from({ length: batchSize }, (_, i) => i * jump);
  for (let i = 0; i < batchSize; i++) { bx.push([]); bt.push([]); }
  for (let time = 0; time < timeSize; time++) {
    offsets.forEach((offset, i) => {
      bx[i][time] = x[(offset + state.timeIdx) % size];
      bt[i][time] = t[(offset + state.timeIdx) % size];
    });
    state.timeIdx += 1;
  }
  return { bx, bt };
}

describe('BatchCutter', () => {
  it("cuts the book's batches, row i from i * floor(len / N), with one time index running across epochs", () => {
    const corpus = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 418);
    const x = corpus.slice(0, -1), t = corpus.slice(1);
    const cutter = new BatchCutter(Int32Array.from(x), Int32Array.from(t), 10, 5);
    const state = { timeIdx: 0 };
    const iters = Math.floor(x.length / 50);
    for (let k = 0; k < 3 * iters; k++) { // three epochs: the index wraps modulo the corpus
      cutter.next();
      const { bx, bt } = bookGetBatch(x, t, 10, 5, state);
      expect(Array.from(cutter.xs)).toEqual(bx.flat());
      expect(Array.from(cutter.ts)).toEqual(bt.flat());
    }
    expect(cutter.timeIdx).toBe(3 * iters * 5);
  });

  it('reads row 1 of the first batch at positions 99..103 of a 999-token stream (offset + time, not offset * time)', () => {
    const x = Int32Array.from({ length: 999 }, (_, i) => i);
    const cutter = new BatchCutter(x, x, 10, 5);
    cutter.next();
    expect(Array.from(cutter.xs.subarray(5, 10))).toEqual([99, 100, 101, 102, 103]);
    cutter.next();
    expect(Array.from(cutter.xs.subarray(0, 5))).toEqual([5, 6, 7, 8, 9]);
  });
});

describe('BatchCutter over some rows (one process of a data-parallel run)', () => {
  it('cuts those rows of every batch, as the whole cutter does, across epochs', () => {
    const x = Int32Array.from({ length: 999 }, (_, i) => (i * 7919) % 418), t = Int32Array.from(x, (v) => (v + 1) % 418);
    const whole = new BatchCutter(x, t, 10, 5), part = new BatchCutter(x, t, 10, 5, [3, 7]);
    for (let k = 0; k < 3 * Math.floor(999 / 50); k++) {
      whole.next();
      part.next();
      expect(Array.from(part.xs)).toEqual(Array.from(whole.xs.subarray(15, 35)));
      expect(Array.from(part.ts)).toEqual(Array.from(whole.ts.subarray(15, 35)));
    }
    expect(part.timeIdx).toBe(whole.timeIdx);
  });

  it('reads only its rows\' stretches of the corpus', () => {
    const length = 1_000_000, N = 10, T = 5, iters = 50, jump = Math.floor(length / N);
    const reads: [number, number][] = [];
    const source = { length, read: (start: number, out: Int32Array) => { reads.push([start, start + out.length]); out.fill(1); } };
    const cutter = new BatchCutter(source, source, N, T, [3, 7]);
    for (let k = 0; k < iters; k++) cutter.next();
    expect(reads.length).toBeGreaterThan(0);
    for (const [from, to] of reads) {
      const row = Math.floor(from / jump);
      expect(row).toBeGreaterThanOrEqual(3);
      expect(row).toBeLessThan(7);
      // A window of at most 4096 ids from where the row has got to.
      expect(from).toBeLessThanOrEqual(row * jump + iters * T);
      expect(to - from).toBeLessThanOrEqual(4096);
    }
  });
});

describe('evalPerplexity', () => {
  it("walks the corpus as the book's eval_perplexity and is exp(mean window loss)", () => {
    const V = 13, N = 2, T = 3;
    const corpus = Int32Array.from({ length: 40 }, (_, i) => (i * 5) % V);
    const model = new SimpleRnnlm(V, 4, 5, { seed: 1, backend: 'js' });
    const ppl = evalPerplexity(model, corpus, N, T);
    // Recompute by hand with the book's indexing.
    const ref = new SimpleRnnlm(V, 4, 5, { seed: 1, backend: 'js' });
    const iters = Math.floor((corpus.length - 1) / (N * T));
    const jump = Math.floor((corpus.length - 1) / N);
    let total = 0;
    for (let it = 0; it < iters; it++) {
      const xs = new Int32Array(N * T), ts = new Int32Array(N * T);
      for (let i = 0; i < N; i++) {
        for (let t = 0; t < T; t++) {
          const o = it * T + i * jump;
          xs[i * T + t] = corpus[(o + t) % corpus.length];
          ts[i * T + t] = corpus[(o + t + 1) % corpus.length];
        }
      }
      total += ref.forward(xs, ts, N, T);
    }
    expect(ppl).toBeCloseTo(Math.exp(total / iters), 10);
    expect(() => evalPerplexity(model, corpus.subarray(0, 5), N, T)).toThrow(/exceeds the corpus of 5 tokens/);
    expect(() => evalPerplexity(model, Int32Array.from([1, 2, 99, 3, 4, 5, 6, 7]), 1, 2)).toThrow(/position 2 is outside/);
  });
});
