/**
 * The native boundary trusts nothing: wrong types, shapes, lengths, negative and huge dimensions, detached buffers
 * and out-of-range ids all end in a TypeError or RangeError that names the argument, never in a crash. And the two
 * backends refuse alike: every argument of every op (as src/backend/contract.ts declares them), made wrong in each
 * simple way, gets the same error class and the same words for what was expected of which argument from js and
 * from native, and the words name the argument as the declaration does.
 */
import { jsBackend, SCRATCH } from '../src/backend';
import { OP_SPECS } from '../src/backend/contract';
import { huffmanTree } from '../src/layers/tree-softmax';
import { loadNativeBackend } from '../src/backend/native';
import { randomArray, describeNative as describeNativeIf } from './helpers';

const addon = loadNativeBackend().addon as unknown as Record<string, (...a: unknown[]) => unknown> | undefined;
const describeNative = describeNativeIf(Boolean(addon));

const CANARY = -77777;
const PAD = 5;

/** Every canary around the guarded views among args is intact. */
function canariesIntact(args: unknown[]): boolean {
  for (const a of args) {
    if (!(a instanceof Float32Array || a instanceof Int32Array) || a.buffer.byteLength === 0) continue;
    const all = a instanceof Float32Array ? new Float32Array(a.buffer) : new Int32Array(a.buffer);
    const start = a.byteOffset / 4;
    if (start !== PAD || all.length !== a.length + 2 * PAD) continue; // not one of ours (a mutation made it)
    for (let i = 0; i < PAD; i++) if (all[i] !== CANARY || all[start + a.length + i] !== CANARY) return false;
  }
  return true;
}

/** A valid call for every exported op, on small random shapes. */
function validCalls(rnd: () => number): [string, unknown[]][] {
  const d = (): number => 1 + Math.floor(rnd() * 4);
  const N = d(), T = d(), D = d(), H = d(), V = d() + 1, R = d(), I = d(), O = d(), M = d(), K = d();
  // Every buffer is a view with canaries on either side: a write outside it shows even when nothing crashes.
  const f = (n: number): Float32Array => {
    const all = new Float32Array(n + 2 * PAD).fill(CANARY);
    return all.subarray(PAD, PAD + n).fill(0);
  };
  const ids = (n: number, max: number): Int32Array => {
    const all = new Int32Array(n + 2 * PAD).fill(CANARY);
    const v = all.subarray(PAD, PAD + n);
    for (let i = 0; i < n; i++) v[i] = Math.floor(rnd() * max);
    return v;
  };
  // A class-factored output layer: C classes over V2 words, R rows grouped by their targets' classes.
  const C = d(), V2 = C + d(), Hc = d();
  const bounds = Int32Array.from({ length: C + 1 }, (_, c) => (c === C ? V2 : c));
  const ts = ids(R, V2 + 1).map((t) => (t === V2 ? -1 : t));
  const cls = (t: number): number => (t === -1 ? -1 : Math.min(t, C - 1));
  const ct = ts.map(cls);
  const groups = Int32Array.from({ length: C + 1 }, (_, c) => ct.filter((k) => k >= 0 && k < c).length);
  const order = Int32Array.from(Array.from(ct, (k, r) => [k, r]).filter(([k]) => k >= 0).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, r]) => r));
  let need = 0;
  for (let c = 0; c < C; c++) need += (groups[c + 1] - groups[c]) * (bounds[c + 1] - bounds[c]);
  const withPad = (v: Int32Array): Int32Array => {
    const all = new Int32Array(v.length + 2 * PAD).fill(CANARY);
    all.set(v, PAD);
    return all.subarray(PAD, PAD + v.length);
  };
  const tied = rnd() < 0.5;
  // A tree output over V words: each row's target path, row after row, in g.
  const tree = huffmanTree(Array.from({ length: V }, (_, i) => V - i));
  const tts = ids(R, V);
  const offsets = new Int32Array(R + 1);
  for (let r = 0; r < R; r++) offsets[r + 1] = offsets[r] + tree.start[tts[r] + 1] - tree.start[tts[r]];
  const G = offsets[R];
  return [
    ['treeSoftmaxForward', [f(G), f(R * H), f((V - 1) * H), f(V - 1), tts, withPad(offsets), withPad(tree.start), withPad(tree.node), withPad(tree.code), R, H, V]],
    ['treeSoftmaxBackward', [f(R * H), f((V - 1) * H), f(V - 1), f(G), 0.5, f(R * H), f((V - 1) * H), tts, withPad(offsets), withPad(tree.start),
      withPad(tree.node), R, H, V]],
    ['classSoftmaxForward', [f(R * C), f(R * C), f(need), f(R * Hc), f(R * Hc), f(Hc * V2), f(V2), f(Hc * C), f(C), withPad(bounds),
      withPad(ct), withPad(order), withPad(groups), withPad(ts), tied, R, Hc, V2, C, rnd() < 0.5]],
    ['classSoftmaxBackward', [f(R * Hc), f(Hc * V2), f(V2), f(Hc * C), f(C), f(R * Hc), f(R * C), f(need), f(R * Hc), f(R * Hc), f(Hc * V2),
      f(Hc * C), withPad(bounds), withPad(ct), withPad(order), withPad(groups), withPad(ts), 0.5, tied, R, Hc, V2, C, rnd() < 0.5]],
    ['gatherWords', [f(R * H), f(H * V), ids(R, V), rnd() < 0.5, H, V, R]],
    ['scatterAddWords', [f(H * V), f(R * H), ids(R, V), rnd() < 0.5, H, V, R]],
    ['sgemm', [false, true, M, N, K, 1, f(M * K), K, f(N * K), K, 0, f(M * N), N]],
    ['embeddingForward', [f(R * D), f(V * D), ids(R, V), R, V, D]],
    ['embeddingBackward', [f(V * D), f(R * D), ids(R, V), R, V, D]],
    ['rnnForward', [f(N * T * H), f(N * T * D), f(N * H), f(D * H), f(H * H), f(H), N, T, D, H]],
    ['rnnBackward', [f(N * T * D), f(D * H), f(H * H), f(H), f(N * H), f(N * T * H), f(N * T * D), f(N * T * H), f(N * H),
      f(D * H), f(H * H), f(SCRATCH.rnnBackward(N, T, H)), N, T, D, H]],
    ['lstmForward', [f(N * T * H), f(N * T * H), f(N * T * 4 * H), f(N * T * D), f(N * H), f(N * H), f(D * 4 * H), f(H * 4 * H), f(4 * H), N, T, D, H]],
    ['lstmBackward', [f(N * T * D), f(D * 4 * H), f(H * 4 * H), f(4 * H), f(N * H), f(N * H), f(N * T * H), f(N * T * D), f(N * T * H),
      f(N * T * H), f(N * T * 4 * H), f(N * H), f(N * H), f(D * 4 * H), f(H * 4 * H), f(SCRATCH.lstmBackward(N, T, H)), N, T, D, H]],
    ['gruForward', [f(N * T * H), f(N * T * 3 * H), f(N * T * H), f(N * T * D), f(N * H), f(D * 3 * H), f(H * 3 * H), f(3 * H), N, T, D, H]],
    ['gruBackward', [f(N * T * D), f(D * 3 * H), f(H * 3 * H), f(3 * H), f(N * H), f(N * T * H), f(N * T * D), f(N * T * H),
      f(N * T * 3 * H), f(N * T * H), f(N * H), f(D * 3 * H), f(H * 3 * H), f(SCRATCH.gruBackward(N, T, H)), N, T, D, H]],
    ['dropoutForward', [f(N * T * H), f(N * T * H), f(N * T * H), 0.25, 1, 2, 3, 4, N, T, H]],
    ['dropoutBackward', [f(R), f(R), f(R), R]],
    ['affineForward', [f(R * O), f(R * I), f(I * O), f(O), rnd() < 0.5, R, I, O]],
    ['affineBackward', [f(R * I), f(I * O), f(O), f(R * O), f(R * I), f(I * O), f(R * I), rnd() < 0.5, R, I, O]],
    ['softmaxCrossEntropyForward', [f(R * V), f(R * V), ids(R, V), R, V, ...(rnd() < 0.5 ? [0.5] : [])]],
    ['softmaxCrossEntropyBackward', [f(R * V), f(R * V), ids(R, V), 0.5, R, V]],
    ['sgdUpdate', [f(5), f(5), 0.1, ...(rnd() < 0.5 ? [rnd() < 0.5] : [])]],
    ['sumSquares', [f(5)]],
    ['addSumSquares', [f(5), f(5), ...(rnd() < 0.5 ? [rnd() < 0.5] : [])]],
    ['sumSquaresRows', [f(V * D), ids(R, V), R, V, D]],
    ['sgdUpdateRows', [f(V * D), f(V * D), 0.1, ids(R, V), R, V, D, rnd() < 0.5]],
    ['addSumSquaresRows', [f(V * D), f(V * D), ids(R, V), R, V, D, rnd() < 0.5]],
    ['zero', [f(5)]],
    ['scale', [f(5), 2]],
    ['setNumThreads', [1]],
    ['setBf16', [false]],
  ];
}

/** fn throws an error of that name with exactly that message. */
function throwsExactly(fn: () => unknown, name: string, message: string): void {
  let err: Error | undefined;
  try {
    fn();
  } catch (e) {
    err = e as Error;
  }
  expect(err && { name: err.name, message: err.message }).toEqual({ name, message });
}

function detached(n: number): Float32Array {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

/** One mutation of one argument. */
function mutate(v: unknown, rnd: () => number): unknown {
  const pick = <T,>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  if ((v instanceof Float32Array || v instanceof Int32Array) && v.buffer.byteLength > 0) {
    const n = v.length;
    return pick<unknown>([
      v instanceof Float32Array ? new Int32Array(n) : new Float32Array(n),
      new Float64Array(n), new Uint8Array(n * 4), v.subarray(0, Math.max(0, n - 1 - Math.floor(rnd() * 3))),
      detached(n), v.buffer, Array.from(v), null, undefined, 'x', 3, {},
      v instanceof Int32Array ? Int32Array.from(v, () => pick([-2, -1, 2 ** 31 - 1, 1e6, -(2 ** 31)])) : new Float32Array(0),
    ]);
  }
  if (typeof v === 'number') {
    return pick<unknown>([0, 0, 1, -1, -(2 ** 31), 2 ** 31, 2 ** 31 - 1, 2 ** 40, 2 ** 53, 1e300, NaN, Infinity, -Infinity, 1.5, -0.5,
      '3', null, undefined, true, 10n, new Float32Array(1), 65536, 46341]);
  }
  if (typeof v === 'boolean') return pick<unknown>([0, 1, 'true', null, undefined]);
  return undefined;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/**
 * The js backend's arguments for an addon call: the same, except the class ops, which the Backend interface takes
 * as a ClassSoftmaxOp descriptor and the addon flat.
 */
function jsArguments(name: string, a: unknown[]): unknown[] {
  if (name === 'classSoftmaxForward') {
    const [zs, zp, probs, hg, h, W, b, Wc, bc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes] = a;
    return [{ zs, zp, probs, hg, W, b, Wc, bc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes }, h];
  }
  if (name === 'classSoftmaxBackward') {
    const [dh, dW, db, dWc, dbc, work, zp, probs, hg, h, W, Wc, bounds, ct, order, groups, ts, scale, transW, R, H, V, C, classes] = a;
    return [{ zp, probs, hg, W, Wc, bounds, ct, order, groups, ts, transW, R, H, V, C, classes }, h, dh, { dW, db, dWc, dbc }, work, scale];
  }
  return a;
}

describeNative('native boundary', () => {
  it('accepts the valid calls the malformed ones are made from, on both backends alike', () => {
    const rnd = xorshift(777);
    for (let i = 0; i < 200; i++) {
      for (const [name, args] of validCalls(rnd)) {
        if (name === 'setNumThreads' || name === 'setBf16') continue;
        const copy = args.map((a) => (a instanceof Float32Array ? Float32Array.from(a) : a));
        const rn = addon![name](...args);
        expect(canariesIntact(args)).toBe(true);
        const rj = (jsBackend as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...jsArguments(name, copy));
        if (typeof rn === 'number') expect(Math.abs(rn - (rj as number))).toBeLessThan(1e-4 * Math.max(1, Math.abs(rn)));
      }
    }
  });

  it('20,000 random malformed calls all throw TypeError or RangeError or stay inside their buffers', () => {
    const rnd = xorshift(12345);
    const counts = { TypeError: 0, RangeError: 0, ok: 0 };
    for (let i = 0; i < 20000; i++) {
      const calls = validCalls(rnd);
      const [name, args] = calls[Math.floor(rnd() * calls.length)];
      let a = [...args];
      const roll = rnd();
      if (roll < 0.05) a = a.slice(0, Math.floor(rnd() * a.length)); // too few arguments
      else if (roll < 0.08) a.push(0); // too many
      else {
        const k = 1 + Math.floor(rnd() * 3);
        for (let j = 0; j < k; j++) {
          const idx = Math.floor(rnd() * a.length);
          a[idx] = mutate(a[idx], rnd);
        }
      }
      try {
        addon![name](...a);
        if (name === 'setBf16') addon!.setBf16(false); // a mutation can make it setBf16(true): float32 for the rest
        counts.ok++;
        if (!canariesIntact(a)) throw new Error(`${name}: a write outside a buffer (call ${i})`);
      } catch (e) {
        if (!canariesIntact(a)) throw new Error(`${name}: a write outside a buffer before throwing (call ${i})`, { cause: e });
        // Errors made by the addon come from Node's own realm, not jest's sandbox: compare names, not classes.
        const kind = (e as Error).name;
        if (kind === 'TypeError' || kind === 'RangeError') counts[kind]++;
        else throw new Error(`${name}(${a.map((x) => typeof x).join(', ')}) threw ${String(e)}`, { cause: e });
        expect((e as Error).message).toMatch(/Expected|expects|too large|exceeds/);
      }
    }
    // Some mutations are harmless (a longer array, a zero size); most must be refused.
    expect(counts.TypeError + counts.RangeError).toBeGreaterThan(16000);
    expect(counts.TypeError).toBeGreaterThan(2000);
    expect(counts.RangeError).toBeGreaterThan(2000);
    addon!.setNumThreads(2);
  });

  it('refuses each bad argument alike on js and native: the same error class and message, naming the argument', () => {
    const outcome = (fn: () => unknown): string => {
      try {
        fn();
        return 'ok';
      } catch (e) {
        // What was expected of which argument: how each side describes the value it received may differ.
        return `${(e as Error).name}: ${(e as Error).message.replace(/ but received .*$/, '')}`;
      }
    };
    const mismatches: string[] = [], unnamed: string[] = [];
    let refused = 0;
    const calls = validCalls(xorshift(99)).filter(([name]) => name !== 'setNumThreads' && name !== 'setBf16');
    // Every op is declared, with as many arguments as its call has (optional ones may be left out).
    for (const [name, args] of calls) {
      const specs = OP_SPECS[name];
      expect([name, args.length >= specs.filter((x) => !x.optional).length && args.length <= specs.length]).toEqual([name, true]);
    }
    expect(Object.keys(OP_SPECS).sort()).toEqual(calls.map(([name]) => name).sort());
    for (const [name, args] of calls) {
      args.forEach((arg, k) => {
        const bad: unknown[] = typeof arg === 'number' ? [-1, 'x'] : typeof arg === 'boolean' ? [0]
          : arg instanceof Float32Array || arg instanceof Int32Array ? ['x', ...(arg.length > 0 ? [arg.subarray(0, arg.length - 1)] : [])] : [];
        for (const b of bad) {
          const call = args.map((a, i) => (i === k ? b : a instanceof Float32Array ? Float32Array.from(a) : a));
          const native = outcome(() => addon![name](...call));
          const js = outcome(() => (jsBackend as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...jsArguments(name, call)));
          if (native !== js) mismatches.push(`${name} arg ${k} = ${String(b).slice(0, 10)}: native ${native} | js ${js}`);
          if (native !== 'ok') refused++;
          // The refusal names the argument as its declaration does.
          const declared = OP_SPECS[name][k].name;
          if (native !== 'ok' && ![` for ${declared}`, `${declared}[`, `within ${declared} `].some((w) => native.includes(w))) unnamed.push(`${name} ${declared}: ${native}`);
        }
      });
    }
    expect(mismatches).toEqual([]);
    expect(unnamed).toEqual([]);
    expect(refused).toBeGreaterThan(500);
  });

  it('names the argument and the numbers', () => {
    const f = (n: number): Float32Array => new Float32Array(n);
    const N = 2, T = 4, D = 80, H = 3;
    throwsExactly(() => addon!.rnnForward(f(N * T * H), f(512), f(N * H), f(D * H), f(H * H), f(H), N, T, D, H), 'RangeError', 'Expected Float32Array of length >= 640 (N*T*D) for xs but received length 512');
    throwsExactly(() => addon!.embeddingForward(f(4), f(10), Int32Array.from([0, 5]), 2, 5, 2), 'RangeError', 'Expected ids[1] in [0, 5) but received 5');
    throwsExactly(() => addon!.softmaxCrossEntropyForward(f(4), f(4), Int32Array.from([-1, -2]), 2, 2), 'RangeError', 'Expected ts[1] in [0, 2) or -1 but received -2');
    expect(() => addon!.softmaxCrossEntropyForward(f(4), f(4), Int32Array.from([0, 1]), 2, 2, NaN)).toThrow(/gradScale/);
    expect(() => addon!.softmaxCrossEntropyForward(f(4), f(4), Int32Array.from([0, 1]), 2, 2, '1' as unknown as number)).toThrow(/gradScale/);
    throwsExactly(() => addon!.sgemm(false, false, 2, 2, 2, 1, new Float64Array(4), 2, f(4), 2, 0, f(4), 2), 'TypeError', 'Expected Float32Array for A but received Float64Array of length 4');
    throwsExactly(() => addon!.sgemm(false, false, -1, 2, 2, 1, f(4), 2, f(4), 2, 0, f(4), 2), 'RangeError', 'Expected integer in [0, 2147483647] for M but received -1');
    throwsExactly(() => addon!.sgemm(false, false, 2, 2, 2, 1, f(4), 1, f(4), 2, 0, f(4), 2), 'RangeError', 'Expected leading dimension of A >= 2 but received 1');
    throwsExactly(() => addon!.rnnForward(f(1), f(1), f(1), f(1), f(1), f(1), 2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 2),
      'RangeError', 'Size N*T is too large');
    expect(() => addon!.scale(detached(4), 2)).not.toThrow(); // a detached array is empty: nothing to scale
    throwsExactly(() => addon!.sgdUpdate(f(4), detached(4), 0.1), 'RangeError', 'Expected Float32Array of length >= 4 (param.length) for grad but received length 0');
    throwsExactly(() => addon!.sumSquares(), 'TypeError', 'sumSquares expects 1 arguments but received 0');
    throwsExactly(() => addon!.sgdUpdate(f(4), f(4), 0.1, 1), 'TypeError', 'Expected boolean for zeroGrad but received 1 of type number');
    throwsExactly(() => addon!.addSumSquares(f(4), f(4), true, 0), 'TypeError', 'addSumSquares expects 2 to 3 arguments but received 4');
  });

  it('works on Float32Arrays over SharedArrayBuffers', () => {
    const a = new Float32Array(new SharedArrayBuffer(16));
    a.set([1, 2, 3, 4]);
    expect(addon!.sumSquares(a)).toBe(30);
    const y = Float32Array.from([1, 2, 3]);
    expect(addon!.addSumSquares(y, Float32Array.from([1, 1, 1]))).toBe(29);
    expect(Array.from(y)).toEqual([2, 3, 4]);
    throwsExactly(() => addon!.addSumSquares(new Float32Array(3), new Float32Array(2)), 'RangeError', 'Expected Float32Array of length >= 3 (y.length) for x but received length 2');
    const r = randomArray(8, 3);
    expect(addon!.sumSquares(r.subarray(4))).toBeCloseTo(r.subarray(4).reduce((s, x) => s + x * x, 0), 5);
  });
});
