/**
 * Argument checks of the js backend, run before any memory is touched. Messages name the argument, what was
 * expected and what came, e.g. "Expected Float32Array of length >= 640 (N*T*D) for xs but received length 512".
 * The native addon makes the same checks in C++ (native/addon.cc) with the same messages.
 */

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (ArrayBuffer.isView(v)) return `${v.constructor.name} of length ${(v as Float32Array).length}`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${String(v)} of type ${typeof v}`;
}

/** A dimension: an integer >= 0 (or >= min). */
export function dim(name: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TypeError(`Expected integer for ${name} but received ${describe(v)}`);
  }
  if (v < min || v > 0x7fffffff) {
    throw new RangeError(`Expected integer in [${min}, 2147483647] for ${name} but received ${v}`);
  }
  return v;
}

/** An integer in [0, 2^32): seeds and counters of the dropout hash. */
export function uint32(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TypeError(`Expected integer for ${name} but received ${describe(v)}`);
  }
  if (v < 0 || v > 0xffffffff) throw new RangeError(`Expected integer in [0, 4294967295] for ${name} but received ${v}`);
  return v;
}

/** A dropout ratio: a number in [0, 1). */
export function probability(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`Expected number for ${name} but received ${describe(v)}`);
  if (!(v >= 0 && v < 1)) throw new RangeError(`Expected number in [0, 1) for ${name} but received ${v}`);
  return v;
}

export function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`Expected boolean for ${name} but received ${describe(v)}`);
  return v;
}

export function finite(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`Expected number for ${name} but received ${describe(v)}`);
  if (!Number.isFinite(v)) throw new RangeError(`Expected finite number for ${name} but received ${v}`);
  return v;
}

/** The product of dimensions, refusing anything beyond what a typed array can index. */
export function product(what: string, ...dims: number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  if (p > Number.MAX_SAFE_INTEGER || p > 2 ** 32) {
    throw new RangeError(`Size ${what} = ${dims.join('*')} is too large`);
  }
  return p;
}

export function f32(name: string, v: unknown, minLength: number, shape?: string): Float32Array {
  if (!(v instanceof Float32Array)) {
    throw new TypeError(`Expected Float32Array for ${name} but received ${describe(v)}`);
  }
  if (v.length < minLength) {
    throw new RangeError(
      `Expected Float32Array of length >= ${minLength}${shape ? ` (${shape})` : ''} for ${name} but received length ${v.length}`,
    );
  }
  return v;
}

/** A Uint8Array (or Buffer) of at least minLength bytes. */
export function u8(name: string, v: unknown, minLength: number, shape?: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`Expected Uint8Array for ${name} but received ${describe(v)}`);
  if (v.length < minLength) {
    throw new RangeError(`Expected Uint8Array of length >= ${minLength}${shape ? ` (${shape})` : ''} for ${name} but received length ${v.length}`);
  }
  return v;
}

export function i32(name: string, v: unknown, minLength: number, shape?: string): Int32Array {
  if (!(v instanceof Int32Array)) {
    throw new TypeError(`Expected Int32Array for ${name} but received ${describe(v)}`);
  }
  if (v.length < minLength) {
    throw new RangeError(
      `Expected Int32Array of length >= ${minLength}${shape ? ` (${shape})` : ''} for ${name} but received length ${v.length}`,
    );
  }
  return v;
}

/** Every ids[r] for r < R is in [0, V) (or -1 when allowIgnore). */
export function ids(name: string, v: Int32Array, R: number, V: number, allowIgnore = false): void {
  for (let r = 0; r < R; r++) {
    const id = v[r];
    if (id >= 0 && id < V) continue;
    if (allowIgnore && id === -1) continue;
    throw new RangeError(`Expected ${name}[${r}] in [0, ${V})${allowIgnore ? ' or -1' : ''} but received ${id}`);
  }
}

/** The minimum length of a row-major [rows, cols] matrix stored with row stride ld. */
export function matrixLength(name: string, rows: number, cols: number, ld: number): number {
  if (ld < Math.max(1, cols)) {
    throw new RangeError(`Expected leading dimension of ${name} >= ${Math.max(1, cols)} but received ${ld}`);
  }
  if (rows === 0 || cols === 0) return 0;
  return product(`of ${name}`, rows - 1, ld) + cols;
}

export interface GemmArgs {
  transA: boolean; transB: boolean; M: number; N: number; K: number;
  alpha: number; A: Float32Array; lda: number; B: Float32Array; ldb: number;
  beta: number; C: Float32Array; ldc: number;
}

export function sgemmArgs(
  transA: unknown, transB: unknown, M: unknown, N: unknown, K: unknown,
  alpha: unknown, A: unknown, lda: unknown, B: unknown, ldb: unknown,
  beta: unknown, C: unknown, ldc: unknown,
): GemmArgs {
  if (typeof transA !== 'boolean') throw new TypeError(`Expected boolean for transA but received ${describe(transA)}`);
  if (typeof transB !== 'boolean') throw new TypeError(`Expected boolean for transB but received ${describe(transB)}`);
  const m = dim('M', M), n = dim('N', N), k = dim('K', K);
  const la = dim('lda', lda, 1), lb = dim('ldb', ldb, 1), lc = dim('ldc', ldc, 1);
  const al = finite('alpha', alpha), be = finite('beta', beta);
  // Stored shapes: A is [M,K] or, transposed, [K,M]; B is [K,N] or [N,K]; C is [M,N].
  const a = f32('A', A, matrixLength('A', transA ? k : m, transA ? m : k, la), transA ? 'K x M' : 'M x K');
  const b = f32('B', B, matrixLength('B', transB ? n : k, transB ? k : n, lb), transB ? 'N x K' : 'K x N');
  const c = f32('C', C, matrixLength('C', m, n, lc), 'M x N');
  return { transA, transB, M: m, N: n, K: k, alpha: al, A: a, lda: la, B: b, ldb: lb, beta: be, C: c, ldc: lc };
}

/**
 * The class grouping of classSoftmaxForward/Backward (the same checks and messages as native/addon.cc): bounds
 * [C+1] from 0 to V, increasing; ct [R] each row's class (-1 exactly where ts is -1); groups [C+1] from 0,
 * non-decreasing, to count <= R; order [count]: rows of class c in group c. Returns sum_c n_c * m_c, what probs
 * must hold.
 */
export function classGroups(bounds: Int32Array, ct: Int32Array, order: unknown, groups: Int32Array, ts: Int32Array,
  R: number, V: number, C: number): number {
  if (bounds[0] !== 0 || bounds[C] !== V) throw new RangeError(`Expected bounds from 0 to V = ${V} but received ${bounds[0]} .. ${bounds[C]}`);
  for (let c = 0; c < C; c++) {
    if (!(bounds[c + 1] > bounds[c])) throw new RangeError(`Expected increasing bounds but bounds[${c + 1}] = ${bounds[c + 1]} after ${bounds[c]}`);
  }
  for (let r = 0; r < R; r++) {
    const k = ct[r], t = ts[r];
    const ok = (k === -1 && t === -1) || (k >= 0 && k < C && t >= bounds[k] && t < bounds[k + 1]);
    if (!ok) throw new RangeError(`Expected ct[${r}] to be the class of ts[${r}] = ${t} but received ${k}`);
  }
  if (groups[0] !== 0) throw new RangeError(`Expected groups[0] = 0 but received ${groups[0]}`);
  for (let c = 0; c < C; c++) {
    if (groups[c + 1] < groups[c] || groups[c + 1] > R) {
      throw new RangeError(`Expected non-decreasing groups in [0, R = ${R}] but groups[${c + 1}] = ${groups[c + 1]}`);
    }
  }
  const rows = i32('order', order, groups[C], 'groups[C]');
  let need = 0;
  for (let c = 0; c < C; c++) {
    for (let i = groups[c]; i < groups[c + 1]; i++) {
      const r = rows[i];
      if (!(r >= 0 && r < R) || ct[r] !== c) throw new RangeError(`Expected order[${i}] to be a row of class ${c} but received ${r}`);
    }
    need += product('n_c*m_c', groups[c + 1] - groups[c], bounds[c + 1] - bounds[c]);
  }
  return need;
}

/**
 * The arguments of the tree softmax ops, checked as the rows are visited: for row r with target t, offsets[r+1] -
 * offsets[r] is t's path length (0 for -1), within g; start[t] <= start[t+1] <= the length of `node`; and
 * `visit(r, t, k0, k1, o)` gets the path [k0, k1) and its first entry o in g. Node ids and codes are checked by the
 * callers as they read them (treeNode).
 */
export function treeRows(ts: Int32Array, offsets: Int32Array, start: Int32Array, node: Int32Array, gLength: number, R: number, V: number,
  visit: (r: number, t: number, k0: number, k1: number, o: number) => void): void {
  if (offsets[0] !== 0) throw new RangeError(`Expected offsets[0] = 0 but received ${offsets[0]}`);
  for (let r = 0; r < R; r++) {
    const t = ts[r], o = offsets[r];
    if (t !== -1) {
      if (!(t >= 0 && t < V)) throw new RangeError(`Expected ts[${r}] in [0, ${V}) or -1 but received ${t}`);
      const k0 = start[t], k1 = start[t + 1];
      if (!(k0 >= 0 && k1 >= k0 && k1 <= node.length)) throw new RangeError(`Expected start[${t}] <= start[${t + 1}] <= ${node.length} but received ${k0}, ${k1}`);
      const len = k1 - k0;
      if (offsets[r + 1] - o !== len || o + len > gLength) {
        throw new RangeError(`Expected offsets[${r + 1}] - offsets[${r}] = ${len} (the path of word ${t}) within g of length ${gLength} but received ${offsets[r + 1]} - ${o}`);
      }
      visit(r, t, k0, k1, o);
    } else if (offsets[r + 1] !== o) {
      throw new RangeError(`Expected offsets[${r + 1}] = offsets[${r}] for an ignored target but received ${offsets[r + 1]}`);
    }
  }
}

export function treeNode(node: Int32Array, k: number, V: number): number {
  const n = node[k];
  if (!(n >= 0 && n < V - 1)) throw new RangeError(`Expected node[${k}] in [0, ${V - 1}) but received ${n}`);
  return n;
}
