/**
 * Zero-sized calls (an empty batch, window, input or hidden size) are no-ops that leave parameter gradients as
 * they were and write zeros to the activation gradients, identically on both backends; no op writes a byte
 * outside the views it was given (canaries around every buffer).
 */
import { jsBackend, type Backend } from '../src';
import { SCRATCH } from '../src/backend';
import { loadNativeBackend } from '../src/backend/native';
import { randomArray } from './helpers';

const native = loadNativeBackend().backend;
if (!native && process.env.CI === 'true') throw new Error(`CI=true but the native backend did not load: ${loadNativeBackend().error}`);
const list: Backend[] = native ? [jsBackend, native] : [jsBackend];

const CANARY = -12345.5;
const PAD = 7;

/** n elements inside a larger buffer whose PAD elements on either side hold CANARY; contents random. */
function guarded(n: number, seed: number): Float32Array {
  const all = new Float32Array(n + 2 * PAD).fill(CANARY);
  const view = all.subarray(PAD, PAD + n);
  view.set(randomArray(n, seed));
  return view;
}

function intact(label: string, v: Float32Array): void {
  const all = new Float32Array(v.buffer);
  const start = v.byteOffset / 4;
  for (let i = 0; i < PAD; i++) {
    if (all[start - PAD + i] !== CANARY || all[start + v.length + i] !== CANARY) throw new Error(`${label}: a write outside the buffer`);
  }
}

const SHAPES: [number, number, number, number][] = [[0, 3, 2, 4], [2, 0, 2, 4], [2, 3, 0, 4], [2, 3, 2, 0], [0, 0, 0, 0], [1, 1, 1, 1]];

describe.each(list.map((b) => [b.name, b] as const))('zero sizes and canaries on %s', (_n, be) => {
  it.each(SHAPES)('recurrent ops with N=%i T=%i D=%i H=%i', (N, T, D, H) => {
    for (const [cell, G] of [['rnn', 1], ['lstm', 4], ['gru', 3]] as const) {
      const g = G * H;
      const xs = guarded(N * T * D, 1), h0 = guarded(N * H, 2), c0 = guarded(N * H, 3);
      const Wx = guarded(D * g, 4), Wh = guarded(H * g, 5), b = guarded(g, 6), dhs = guarded(N * T * H, 7);
      const hs = guarded(N * T * H, 8), cs = guarded(N * T * H, 9), gates = guarded(N * T * g, 10), rh = guarded(N * T * H, 11);
      const dxs = guarded(N * T * D, 12), dWx = guarded(D * g, 13), dWh = guarded(H * g, 14), db = guarded(g, 15);
      const dh0 = guarded(N * H, 16), dc0 = guarded(N * H, 17);
      const before = [dWx, dWh, db].map((x) => Array.from(x));
      if (cell === 'rnn') {
        be.rnnForward(hs, xs, h0, Wx, Wh, b, N, T, D, H);
        be.rnnBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, h0, Wx, Wh, guarded(SCRATCH.rnnBackward(N, T, H), 18), N, T, D, H);
      } else if (cell === 'lstm') {
        be.lstmForward(hs, cs, gates, xs, h0, c0, Wx, Wh, b, N, T, D, H);
        be.lstmBackward(dxs, dWx, dWh, db, dh0, dc0, dhs, xs, hs, cs, gates, h0, c0, Wx, Wh, guarded(SCRATCH.lstmBackward(N, T, H), 18), N, T, D, H);
      } else {
        be.gruForward(hs, gates, rh, xs, h0, Wx, Wh, b, N, T, D, H);
        be.gruBackward(dxs, dWx, dWh, db, dh0, dhs, xs, hs, gates, rh, h0, Wx, Wh, guarded(SCRATCH.gruBackward(N, T, H), 18), N, T, D, H);
      }
      for (const [name, v] of Object.entries({ xs, h0, c0, Wx, Wh, b, dhs, hs, cs, gates, rh, dxs, dWx, dWh, db, dh0, dc0 })) intact(`${cell} ${name}`, v);
      if (N * T === 0 || H === 0) {
        // Nothing to learn from an empty window: parameter gradients unchanged, activation gradients zero.
        expect([dWx, dWh, db].map((x) => Array.from(x))).toEqual(before);
        expect(dxs.every((v) => v === 0)).toBe(true);
        expect(dh0.every((v) => v === 0)).toBe(true);
      }
    }
  });

  it('dropout, affine and embedding ops with zero sizes', () => {
    for (const [R, I, O] of [[0, 3, 4], [3, 0, 4], [3, 4, 0], [1, 1, 1]]) {
      const out = guarded(R * O, 1), x = guarded(R * I, 2), W = guarded(I * O, 3), b = guarded(O, 4);
      const dx = guarded(R * I, 5), dW = guarded(I * O, 6), db = guarded(O, 7), dout = guarded(R * O, 8), work = guarded(R * I, 9);
      for (const t of [false, true]) {
        be.affineForward(out, x, W, b, t, R, I, O);
        be.affineBackward(dx, dW, db, dout, x, W, work, t, R, I, O);
      }
      const mask = guarded(R * I, 10);
      be.dropoutForward(dx, mask, x, 0.5, 1, 2, 3, 4, R, 1, I);
      be.dropoutBackward(dx, dout.subarray(0, Math.min(dout.length, R * I)), mask, Math.min(dout.length, R * I));
      for (const [name, v] of Object.entries({ out, x, W, b, dx, dW, db, dout, work, mask })) intact(`R=${R} I=${I} O=${O} ${name}`, v);
    }
  });
});
