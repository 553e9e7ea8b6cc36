/** The addon is context-aware: it loads in several worker threads at once and computes the same numbers there. */
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNativeBackend, chooseCoretype, configureCoretype } from '../src/backend/native';
import { nativeUnavailableReason } from '../src';
import { randomArray, describeNative as describeNativeIf } from './helpers';

const native = loadNativeBackend();
const describeNative = describeNativeIf(Boolean(native.addon));

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const addon = require(workerData.file);
const { A, B, M, N, K, reps } = workerData;
const C = new Float32Array(M * N);
let loss = 0;
for (let r = 0; r < reps; r++) {
  addon.sgemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N);
  loss = addon.softmaxCrossEntropyForward(C, C, new Int32Array(M), M, N);
}
parentPort.postMessage({ C, loss, threads: addon.getNumThreads() });
`;

describeNative('native addon in worker threads', () => {
  it('runs in two workers at once with results equal to the main thread', async () => {
    const M = 64, N = 300, K = 50;
    const A = randomArray(M * K, 1), B = randomArray(N * K, 2);
    const C = new Float32Array(M * N);
    native.addon!.sgemm(false, true, M, N, K, 1, A, K, B, K, 0, C, N);
    const loss = native.addon!.softmaxCrossEntropyForward(C, C, new Int32Array(M), M, N);
    const run = (): Promise<{ C: Float32Array; loss: number }> => new Promise((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: { file: native.file, A, B, M, N, K, reps: 200 } });
      w.once('message', resolve);
      w.once('error', reject);
    });
    const results = await Promise.all([run(), run()]);
    for (const r of results) {
      expect(r.loss).toBe(loss);
      expect(Array.from(r.C)).toEqual(Array.from(C));
    }
  });
});

describe('native backend', () => {
  it('is loaded under CI, so a broken native build cannot pass as js-only', () => {
    if (process.env.CI) expect(nativeUnavailableReason()).toBeUndefined();
    else expect(typeof (nativeUnavailableReason() ?? '')).toBe('string');
  });

  it('picks OpenBLAS kernels from the CPU features', () => {
    const intel512 = 'vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl\n';
    const amd512 = 'vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512bw avx512vl\n';
    const avx2 = 'vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma\n';
    const old = 'vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 sse4_2\n';
    expect(chooseCoretype(intel512)).toBe('SkylakeX');
    expect(chooseCoretype(amd512)).toBe('Haswell');
    expect(chooseCoretype(avx2)).toBe('Haswell');
    expect(chooseCoretype(old)).toBeUndefined();
  });

  it('sets OPENBLAS_CORETYPE only when the user has not', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-cpu-')), 'cpuinfo');
    fs.writeFileSync(f, 'vendor_id\t: GenuineIntel\nflags\t\t: avx2 fma avx512f avx512dq avx512bw avx512vl\n');
    const env: NodeJS.ProcessEnv = {};
    expect(configureCoretype(env, f)).toMatchObject({ value: 'SkylakeX', source: 'rnnlm' });
    expect(env.OPENBLAS_CORETYPE).toBe('SkylakeX');
    const user: NodeJS.ProcessEnv = { OPENBLAS_CORETYPE: 'Prescott' };
    expect(configureCoretype(user, f)).toMatchObject({ value: 'Prescott', source: 'user' });
    expect(user.OPENBLAS_CORETYPE).toBe('Prescott');
    expect(configureCoretype({}, path.join(f, 'missing'))).toMatchObject({ source: 'openblas' });
  });
});
