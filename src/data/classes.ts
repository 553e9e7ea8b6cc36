/**
 * Word classes for the class output (TimeClassSoftmaxWithLoss): frequency classes, the exchange algorithm, and the
 * renumbering that makes every class a run of ids. They belong to the vocabulary: `rnnlm prepare` orders ids by
 * count, so frequency classes need no renumbering.
 */
/**
 * Frequency classes as Mikolov's rnnlm makes them: words sorted by count (most frequent first, `counts` in that
 * order) are cut where the cumulative share of the tokens passes 1/C, 2/C, ...; so frequent words get small classes
 * and rare words share large ones. Returns the boundaries (at most C classes; fewer when frequent words take more
 * than a share each).
 */
export function frequencyClasses(counts: ArrayLike<number>, C: number): number[] {
  const V = counts.length;
  if (!(Number.isSafeInteger(C) && C >= 1)) throw new RangeError(`Expected a positive integer class count but received ${C}`);
  let total = 0;
  for (let i = 0; i < V; i++) total += counts[i];
  const bounds = [0];
  let cum = 0;
  for (let i = 0; i < V; i++) {
    cum += total > 0 ? counts[i] / total : 1 / V;
    // The class of word i ends here when the mass so far passes the next share (and words remain for later classes).
    if (i < V - 1 && cum > bounds.length / C && bounds.length < C) bounds.push(i + 1);
  }
  bounds.push(V);
  return bounds;
}

/** How often each word id 0..V-1 occurs in `ids`. */
export function wordCounts(ids: ArrayLike<number>, V: number): Float64Array {
  const counts = new Float64Array(V);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  return counts;
}

/**
 * Word ids renumbered by frequency in `ids` (most frequent first; ties keep their order): `order[newId] = oldId`
 * and `remap[oldId] = newId`, for a vocabulary of V words; `counts` are in the new order.
 */
export function frequencyOrder(ids: ArrayLike<number>, V: number): { order: Int32Array; remap: Int32Array; counts: Float64Array } {
  return orderByCounts(wordCounts(ids, V));
}

/** Word ids 0..V-1 renumbered by `counts` (most frequent first; ties keep their order), as frequencyOrder. */
export function orderByCounts(counts: Float64Array): { order: Int32Array; remap: Int32Array; counts: Float64Array } {
  const V = counts.length;
  const order = Int32Array.from({ length: V }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const remap = new Int32Array(V);
  order.forEach((old, i) => { remap[old] = i; });
  return { order, remap, counts: Float64Array.from(order, (old) => counts[old]) };
}

/** x log x, 0 at 0. */
function xlogx(x: number): number {
  return x > 0 ? x * Math.log(x) : 0;
}

/**
 * The log-likelihood of a class bigram model of `ids` up to a constant, with word w in class classOf[w]:
 * Σ N(c,d) log N(c,d) − 2 Σ N(c) log N(c) over class bigram counts N(c,d) and class counts N(c) (the exchange
 * algorithm's objective).
 */
export function classBigramObjective(ids: ArrayLike<number>, classOf: ArrayLike<number>, C: number): number {
  const pairs = new Float64Array(C * C), single = new Float64Array(C);
  for (let i = 0; i < ids.length; i++) single[classOf[ids[i]]]++;
  for (let i = 0; i + 1 < ids.length; i++) pairs[classOf[ids[i]] * C + classOf[ids[i + 1]]]++;
  let s = 0;
  for (let i = 0; i < C * C; i++) s += xlogx(pairs[i]);
  for (let c = 0; c < C; c++) s -= 2 * xlogx(single[c]);
  return s;
}

/** Each word's right (next) or left neighbours with their bigram counts, in CSR form. */
function bigramNeighbours(ids: ArrayLike<number>, V: number, next: boolean): { start: Int32Array; word: Int32Array; n: Float64Array } {
  const maps = Array.from({ length: V }, () => new Map<number, number>());
  for (let i = 0; i + 1 < ids.length; i++) {
    const [a, b] = next ? [ids[i], ids[i + 1]] : [ids[i + 1], ids[i]];
    maps[a].set(b, (maps[a].get(b) ?? 0) + 1);
  }
  const start = new Int32Array(V + 1);
  maps.forEach((m, w) => { start[w + 1] = start[w] + m.size; });
  const word = new Int32Array(start[V]), n = new Float64Array(start[V]);
  maps.forEach((m, w) => {
    let j = start[w];
    for (const [v, k] of m) {
      word[j] = v;
      n[j++] = k;
    }
  });
  return { start, word, n };
}

/** A word taken out of its class: its bigrams by the class of the other word, its self-bigrams and its count. */
interface WordBigrams {
  toRight: Float64Array;
  fromLeft: Float64Array;
  nzRight: number[];
  nzLeft: number[];
  self: number;
  count: number;
}

/**
 * The gain in classBigramObjective of putting word w into class b: the changed cells are row b (w's right
 * neighbours), column b (its left neighbours) and (b, b), which gets its bigrams with b's words on both sides and
 * its self-bigrams.
 */
function moveGain(b: number, C: number, pairs: Float64Array, single: Float64Array, xlogx: (x: number) => number, w: WordBigrams): number {
  let gain = 0;
  for (const c of w.nzRight) {
    if (c === b) continue;
    const x = pairs[b * C + c];
    gain += xlogx(x + w.toRight[c]) - xlogx(x);
  }
  for (const c of w.nzLeft) {
    if (c === b) continue;
    const x = pairs[c * C + b];
    gain += xlogx(x + w.fromLeft[c]) - xlogx(x);
  }
  const x = pairs[b * C + b];
  gain += xlogx(x + w.toRight[b] + w.fromLeft[b] + w.self) - xlogx(x);
  return gain - 2 * (xlogx(single[b] + w.count) - xlogx(single[b]));
}

/**
 * Word classes by the exchange algorithm (Kneser & Ney 1993; Martin, Liermann & Ney 1998): starting from
 * `classOf` (a class in [0, C) for every word id of `ids`, e.g. frequency classes), each word in turn (in id
 * order) moves to the class that most raises classBigramObjective, for `passes` passes over the vocabulary.
 * Words that occur in similar contexts end up together, so a class is something the context can predict (a class
 * of rare surnames, of rare verbs) rather than a band of frequencies. Deterministic; returns the new classes (a
 * class may end empty).
 */
export function exchangeClasses(ids: ArrayLike<number>, V: number, classOf: ArrayLike<number>, C: number, passes = 6,
  onPass?: (pass: number, passes: number, moved: number) => void): Int32Array {
  const cls = Int32Array.from(classOf);
  if (cls.length !== V) throw new RangeError(`Expected a class for each of the ${V} words but received ${cls.length}`);
  for (let w = 0; w < V; w++) {
    if (!(cls[w] >= 0 && cls[w] < C)) throw new RangeError(`Expected classes in [0, ${C}) but word ${w} has ${cls[w]}`);
  }
  // Each word's right and left neighbours with their bigram counts (CSR), and its count.
  const count = new Float64Array(V);
  for (let i = 0; i < ids.length; i++) {
    const w = ids[i];
    if (!(Number.isInteger(w) && w >= 0 && w < V)) throw new RangeError(`Expected word ids in [0, ${V}) but ids[${i}] is ${w}`);
    count[w]++;
  }
  const right = bigramNeighbours(ids, V, true), left = bigramNeighbours(ids, V, false);
  // Every count is a whole number of at most ids.length: x log x from a table (Math.log was most of the time).
  const table = new Float64Array(ids.length + 1);
  for (let x = 2; x <= ids.length; x++) table[x] = x * Math.log(x);
  const xlogxOf = (x: number): number => table[x];
  const pairs = new Float64Array(C * C), single = new Float64Array(C);
  for (let w = 0; w < V; w++) {
    single[cls[w]] += count[w];
    for (let j = right.start[w]; j < right.start[w + 1]; j++) pairs[cls[w] * C + cls[right.word[j]]] += right.n[j];
  }
  const toRight = new Float64Array(C), fromLeft = new Float64Array(C);
  const nzRight: number[] = [], nzLeft: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    let moved = 0;
    for (let w = 0; w < V; w++) {
      if (count[w] === 0) continue;
      const a = cls[w];
      // w's bigrams by the class of the other word (w itself apart: its self-bigrams follow it).
      toRight.fill(0);
      fromLeft.fill(0);
      let self = 0;
      for (let j = right.start[w]; j < right.start[w + 1]; j++) {
        if (right.word[j] === w) self += right.n[j];
        else toRight[cls[right.word[j]]] += right.n[j];
      }
      for (let j = left.start[w]; j < left.start[w + 1]; j++) if (left.word[j] !== w) fromLeft[cls[left.word[j]]] += left.n[j];
      nzRight.length = 0;
      nzLeft.length = 0;
      for (let c = 0; c < C; c++) {
        if (toRight[c] > 0) nzRight.push(c);
        if (fromLeft[c] > 0) nzLeft.push(c);
      }
      // Take w out of a.
      for (const c of nzRight) pairs[a * C + c] -= toRight[c];
      for (const c of nzLeft) pairs[c * C + a] -= fromLeft[c];
      pairs[a * C + a] -= self;
      single[a] -= count[w];
      // The gain of putting it into each class b: the changed cells are row b (w's right neighbours), column b
      // (its left neighbours) and (b, b), which gets its bigrams with b's words on both sides and its self-bigrams.
      let best = a, bestGain = -Infinity;
      for (let b = 0; b < C; b++) {
        const gain = moveGain(b, C, pairs, single, xlogxOf, { toRight, fromLeft, nzRight, nzLeft, self, count: count[w] });
        if (gain > bestGain) {
          bestGain = gain;
          best = b;
        }
      }
      for (const c of nzRight) pairs[best * C + c] += toRight[c];
      for (const c of nzLeft) pairs[c * C + best] += fromLeft[c];
      pairs[best * C + best] += self;
      single[best] += count[w];
      cls[w] = best;
      if (best !== a) moved++;
    }
    onPass?.(pass + 1, passes, moved);
    if (moved === 0) break;
  }
  return cls;
}

/**
 * Word ids renumbered so that every class is a run of consecutive ids (class by class, and within a class in the
 * old id order), as TimeClassSoftmaxWithLoss needs: `order[newId] = oldId`, `remap[oldId] = newId` and the class
 * boundaries (empty classes dropped).
 */
export function classNumbering(classOf: ArrayLike<number>): { order: Int32Array; remap: Int32Array; bounds: number[] } {
  const V = classOf.length;
  const order = Int32Array.from({ length: V }, (_, i) => i).sort((a, b) => classOf[a] - classOf[b] || a - b);
  const remap = new Int32Array(V);
  order.forEach((old, i) => { remap[old] = i; });
  const bounds = [0];
  for (let i = 1; i < V; i++) if (classOf[order[i]] !== classOf[order[i - 1]]) bounds.push(i);
  if (V > 0) bounds.push(V);
  return { order, remap, bounds };
}

/** How `rnnlm train --output class` puts words into classes (see wordClasses). */
export type ClassMethod = 'frequency' | 'exchange';
export const CLASS_METHODS: readonly ClassMethod[] = ['frequency', 'exchange'];

/**
 * The words of `ids` (ids < V) in at most C classes of consecutive new ids, as `rnnlm train --output class` makes
 * them: `frequency`, Mikolov's frequency classes over the words numbered most frequent first (frequencyOrder,
 * frequencyClasses); or `exchange`, exchangeClasses started from those, each class then numbered most frequent
 * first. `order[newId] = oldId`, `remap[oldId] = newId`, `counts` by new id and the class boundaries.
 */
export function wordClasses(ids: ArrayLike<number>, V: number, C: number, method: ClassMethod = 'frequency'):
{ order: Int32Array; remap: Int32Array; counts: Float64Array; bounds: number[] } {
  return classesFromCounts(wordCounts(ids, V), C, method, ids);
}

/**
 * wordClasses from the words' counts; `exchange` also needs a sample of the text (ids < V), whose bigrams the
 * exchange algorithm reads. onProgress hears of every exchange pass.
 */
export function classesFromCounts(wordCount: Float64Array, C: number, method: ClassMethod = 'frequency', sample?: ArrayLike<number>,
  onProgress?: (line: string) => void): { order: Int32Array; remap: Int32Array; counts: Float64Array; bounds: number[] } {
  if (!CLASS_METHODS.includes(method)) throw new RangeError(`Unknown class method '${String(method)}': expected ${CLASS_METHODS.join(' or ')}`);
  const V = wordCount.length;
  const byFrequency = orderByCounts(wordCount);
  const bounds = frequencyClasses(byFrequency.counts, C);
  if (method === 'frequency') return { ...byFrequency, bounds };
  if (sample === undefined) throw new RangeError('exchange classes need a sample of the text');
  const init = new Int32Array(V);
  for (let c = 0; c + 1 < bounds.length; c++) init.fill(c, bounds[c], bounds[c + 1]);
  const start = performance.now();
  const classes = exchangeClasses(Int32Array.from(sample, (id) => byFrequency.remap[id]), V, init, bounds.length - 1, 6,
    (pass, passes, moved) => onProgress?.(`rnnlm: exchange classes: pass ${pass} of at most ${passes} moved ${moved} words (${((performance.now() - start) / 1000).toFixed(1)} s)`));
  const numbering = classNumbering(classes);
  return {
    order: Int32Array.from(numbering.order, (f) => byFrequency.order[f]),
    remap: Int32Array.from(byFrequency.remap, (f) => numbering.remap[f]),
    counts: Float64Array.from(numbering.order, (f) => byFrequency.counts[f]),
    bounds: numbering.bounds,
  };
}
