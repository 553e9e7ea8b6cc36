import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jsBackend, resolveBackend, nativeUnavailableReason, type Backend } from '../src/backend';
import type { LanguageModel } from '../src/model';

export const ROOT = path.resolve(__dirname, '..');
export const SHARED = path.resolve(ROOT, '..', 'shared');
export const FIXTURES = path.join(SHARED, 'fixtures');
export const PTB_DIR = process.env.PTB_DIR ? path.resolve(process.env.PTB_DIR) : path.join(SHARED, 'data', 'ptb');

export function readFixture<T = unknown>(name: string): T {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

/** Under CI=true the native backend must load: its suites fail instead of skipping. */
export const REQUIRE_NATIVE = process.env.CI === 'true';

/** Every backend that loaded here: js always, native when built (and always under CI=true). */
export function backends(): Backend[] {
  const list: Backend[] = [jsBackend];
  const reason = nativeUnavailableReason();
  if (reason === undefined) list.push(resolveBackend('native'));
  else if (REQUIRE_NATIVE) throw new Error(`CI=true but the native backend did not load: ${reason}`);
  return list;
}

/** describe for suites that need the native addon: skipped where it is not built, except under CI=true. */
export function describeNative(available: boolean): jest.Describe {
  return available || REQUIRE_NATIVE ? describe : describe.skip;
}

/** Flattens nested number lists (row-major). */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}

/** max |a - b| / max |b|: the error relative to the tensor's scale. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Asserts relError <= tol, with the label and the error in the failure message. */
export function expectClose(label: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const e = relError(a, b);
  if (!(e <= tol)) throw new Error(`${label}: relative error ${e.toExponential(3)} > ${tol}`);
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

export function randomIds(n: number, V: number, seed: number): Int32Array {
  const r = randomArray(n, seed);
  return Int32Array.from(r, (x) => Math.min(V - 1, Math.floor(((x + 1) / 2) * V)));
}

/** The built CLI (dist/cli.js) with PTB_DIR set: its exit code, standard output and standard error. */
export function rnnlm(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], {
    encoding: 'utf8', env: { ...process.env, PTB_DIR }, timeout: 120000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The records of a training log (--log run.jsonl), one per line. */
export function logRecords(file: string): { type: string; epoch: number; iter?: number; ppl: number; val_ppl?: number }[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** One training step's loss and gradient (a copy) for xs, ts [N,T] at `iteration`, from zeroed gradients. */
export function lossAndGrads(model: LanguageModel, xs: Int32Array, ts: Int32Array, N: number, T: number, iteration: number): { loss: number; grads: Float32Array } {
  model.zeroGrads();
  const loss = model.forward(xs, ts, N, T, { iteration });
  model.backward();
  return { loss, grads: Float32Array.from(model.flatGrads) };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { zipfText } = require('../bench/zipf.js') as {
  zipfText(o: { bytes: number; vocab?: number; seed?: number; write: (b: Buffer) => void }): { counts: Float64Array; lines: number };
};

/** A seeded Zipf text of about `bytes` bytes over `vocab` words (bench/zipf.js), written to `file`. */
export function writeZipf(file: string, bytes: number, seed: number, vocab = 400): void {
  const parts: Buffer[] = [];
  zipfText({ bytes, vocab, seed, write: (b) => parts.push(Buffer.from(b)) });
  fs.writeFileSync(file, Buffer.concat(parts));
}
