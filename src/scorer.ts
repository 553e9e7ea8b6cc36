/**
 * Sentence scoring: the log-probability a model gives each word of each sentence, and the end of the sentence,
 * as language models are used in speech recognition and MT rescoring. A sentence w1..wn is read after the
 * sentence boundary <eos> and scored as P(w1 | <eos>) P(w2 | <eos> w1) ... P(<eos> | ... wn).
 * `independent` starts every sentence from a zero state (Mikolov's -independent, sentences batched together);
 * otherwise the state carries from one sentence to the next, as in running text.
 * Runs on the model's evaluator: shared weights, its own state, no dropout.
 */
import type { LanguageModel } from './model';

export interface ScoreOptions {
  /** Every sentence from a zero state (batched), instead of carrying the state through the text. */
  independent?: boolean;
  /** Time steps per forward when the state carries (default 128). */
  timeSize?: number;
}

/** Natural-log probabilities, per sentence, of each of its words and then of the sentence end (n + 1 values). */
export function scoreSentences(model: LanguageModel, sentences: readonly Int32Array[], eos: number, opts: ScoreOptions = {}): Float64Array[] {
  const V = model.vocabSize;
  if (!(Number.isInteger(eos) && eos >= 0 && eos < V)) throw new RangeError(`Expected the <eos> id in [0, ${V}) but received ${eos}`);
  sentences.forEach((s, k) => {
    for (let i = 0; i < s.length; i++) {
      if (!(s[i] >= 0 && s[i] < V)) throw new RangeError(`Word id ${s[i]} of sentence ${k} is outside the model's vocabulary of ${V}`);
    }
  });
  const m = model.evaluator();
  const out = sentences.map((s) => new Float64Array(s.length + 1));
  const ys = new Float32Array(V), t1 = new Int32Array(1);
  /** -ln p(target) for one row of scores. */
  const nll = (scores: Float32Array, row: number, target: number): number => {
    t1[0] = target;
    return m.backend.softmaxCrossEntropyForward(ys, scores.subarray(row * V, row * V + V), t1, 1, V);
  };
  if (opts.independent) {
    // Sentences of similar length together; a batch's scores stay below about 8M floats.
    const order = sentences.map((_, k) => k).sort((a, b) => sentences[a].length - sentences[b].length);
    for (let start = 0; start < order.length;) {
      const T = sentences[order[Math.min(order.length - 1, start + 63)]].length + 1;
      const B = Math.max(1, Math.min(64, order.length - start, Math.floor(8e6 / (T * V))));
      const batch = order.slice(start, start + B);
      const Tb = sentences[batch[batch.length - 1]].length + 1;
      const xs = new Int32Array(B * Tb).fill(eos);
      batch.forEach((k, b) => xs.set(sentences[k], b * Tb + 1));
      m.resetState();
      const scores = m.predict(xs, B, Tb);
      batch.forEach((k, b) => {
        const s = sentences[k];
        for (let t = 0; t <= s.length; t++) out[k][t] = -nll(scores, b * Tb + t, t < s.length ? s[t] : eos);
      });
      start += B;
    }
    m.resetState();
    return out;
  }
  // Carried state: one stream <eos> s1 <eos> s2 <eos> ..., predicted in windows of timeSize steps.
  const T = opts.timeSize ?? 128;
  const total = sentences.reduce((a, s) => a + s.length + 1, 0);
  const stream = new Int32Array(total + 1);
  stream[0] = eos;
  let p = 1;
  for (const s of sentences) {
    stream.set(s, p);
    p += s.length;
    stream[p++] = eos;
  }
  // Where each target position's log-probability goes.
  const owner = new Int32Array(total), slot = new Int32Array(total);
  p = 0;
  sentences.forEach((s, k) => {
    for (let i = 0; i <= s.length; i++, p++) {
      owner[p] = k;
      slot[p] = i;
    }
  });
  m.resetState();
  for (let at = 0; at < total; at += T) {
    const n = Math.min(T, total - at);
    const scores = m.predict(stream.subarray(at, at + n), 1, n);
    for (let t = 0; t < n; t++) out[owner[at + t]][slot[at + t]] = -nll(scores, t, stream[at + t + 1]);
  }
  m.resetState();
  return out;
}
