/**
 * The native backend: the C++ addon (native/, built by node-gyp from binding.gyp) on OpenBLAS. This is the one
 * loader module: it picks OpenBLAS's kernels for the CPU before the library loads, tries the build outputs in
 * order, and when all fail reports one message that lists what it tried and how to fix it.
 *
 * Every addon function checks its own arguments in C++ (types, dimensions, overflow, buffer lengths, id ranges)
 * and throws TypeError / RangeError naming the argument, so the backend passes calls straight through.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend, ClassSoftmaxGrads, ClassSoftmaxOp, WordCounter } from './types';

/** What the addon exports (see native/addon.cc). */
export interface NativeAddon extends Omit<Backend, 'name' | 'precision' | 'bf16Engine' | 'getThreads' | 'setThreads' | 'wordCounter' | 'classSoftmaxForward' | 'classSoftmaxBackward'> {
  /** The class ops take their arguments flat at the boundary, each checked there (native/addon.cc). */
  classSoftmaxForward(
    zs: Float32Array, zp: Float32Array, probs: Float32Array, hg: Float32Array, h: Float32Array, W: Float32Array,
    b: Float32Array, Wc: Float32Array, bc: Float32Array, bounds: Int32Array, ct: Int32Array, order: Int32Array,
    groups: Int32Array, ts: Int32Array, transW: boolean, R: number, H: number, V: number, C: number, classes: boolean,
  ): number;
  classSoftmaxBackward(
    dh: Float32Array, dW: Float32Array, db: Float32Array, dWc: Float32Array, dbc: Float32Array, work: Float32Array,
    zp: Float32Array, probs: Float32Array, hg: Float32Array, h: Float32Array, W: Float32Array, Wc: Float32Array,
    bounds: Int32Array, ct: Int32Array, order: Int32Array, groups: Int32Array, ts: Int32Array, scale: number,
    transW: boolean, R: number, H: number, V: number, C: number, classes: boolean,
  ): void;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  /** This thread's products with bfloat16-rounded operands (see Precision). */
  setBf16(on: boolean): void;
  WordCounter: new (threads: number) => WordCounter;
  info(): { corename: string; config: string; numThreads: number; simd: string; avx512bf16: boolean; dnnl: boolean; mpi: string };
  /** MPI for the process (main thread only): start it ([rank, size]), sum a buffer over the ranks in rank order, end it. */
  mpiInit(): [number, number];
  mpiSumOrdered(data: Float32Array): void;
  mpiAllgather(send: Float64Array, recv: Float64Array): void;
  mpiSetTimeout(seconds: number): void;
  mpiFinalize(): void;
}

export interface NativeLoad {
  backend?: Backend;
  /** The same with bf16 products (oneDNN's when built with it, else emulated: bf16Engine). */
  bf16?: Backend;
  addon?: NativeAddon;
  /** Why the backend is unavailable. */
  error?: string;
  /** The file the addon was loaded from. */
  file?: string;
  /** How OPENBLAS_CORETYPE was decided. */
  coretype?: CoretypeChoice;
  /** Whether the process was told that the js backend runs in its place (once: resolveBackend). */
  fallbackTold?: boolean;
}

export interface CoretypeChoice {
  /** The value in force when OpenBLAS loaded, or undefined to let OpenBLAS detect the CPU. */
  value?: string;
  source: 'user' | 'rnnlm' | 'openblas';
  reason: string;
}

/**
 * The OpenBLAS kernel family for a CPU, from /proc/cpuinfo. Debian's OpenBLAS 0.3.21 does not recognise recent
 * CPUs (e.g. Intel family 6 model 207) and falls back to its generic Prescott kernels, about 3.5x slower; naming
 * the family by the CPU's features avoids that. AVX-512 kernels (SkylakeX) only for Intel CPUs with the full
 * AVX-512 F/BW/DQ/VL set; AVX2 + FMA gives Haswell (for AMD too: 0.3.21's AVX-512 paths are not
 * validated on AMD); anything else is left to OpenBLAS's own detection.
 */
export function chooseCoretype(cpuinfo: string): string | undefined {
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  const flags = new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  const has = (...f: string[]): boolean => f.every((x) => flags.has(x));
  if (vendor === 'GenuineIntel' && has('avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx2', 'fma')) return 'SkylakeX';
  if (has('avx2', 'fma')) return 'Haswell';
  return undefined;
}

/** Sets OPENBLAS_CORETYPE from the CPU unless the user has set it. Must run before OpenBLAS loads. */
export function configureCoretype(env: Record<string, string | undefined> = process.env, cpuinfoFile = '/proc/cpuinfo'): CoretypeChoice {
  if (env.OPENBLAS_CORETYPE) {
    return { value: env.OPENBLAS_CORETYPE, source: 'user', reason: 'OPENBLAS_CORETYPE is set in the environment' };
  }
  let cpuinfo: string;
  try {
    cpuinfo = fs.readFileSync(cpuinfoFile, 'utf8');
  } catch {
    return { source: 'openblas', reason: `${cpuinfoFile} is not readable; OpenBLAS detects the CPU itself` };
  }
  const value = chooseCoretype(cpuinfo);
  if (value === undefined) return { source: 'openblas', reason: 'no AVX2/AVX-512 CPU features found; OpenBLAS detects the CPU itself' };
  env.OPENBLAS_CORETYPE = value;
  return { value, source: 'rnnlm', reason: 'chosen by rnnlm from the CPU features (set OPENBLAS_CORETYPE to override)' };
}

const ROOT = path.resolve(__dirname, '..', '..');

/** Where the addon may be: RNNLM_NATIVE_PATH, then the node-gyp Release and Debug outputs. */
export function addonCandidates(env: Record<string, string | undefined> = process.env): string[] {
  const list = [path.join(ROOT, 'build', 'Release', 'rnnlm.node'), path.join(ROOT, 'build', 'Debug', 'rnnlm.node')];
  return env.RNNLM_NATIVE_PATH ? [path.resolve(env.RNNLM_NATIVE_PATH), ...list] : list;
}

/**
 * The addon as this process has it: Node loads a .node file once per process, and the backends made of it are
 * made once too. The one object that holds process-wide native state on this side.
 */
class NativeLoader {
  private loaded?: NativeLoad;

  load(): NativeLoad {
    this.loaded ??= loadAddon();
    return this.loaded;
  }
}

const NATIVE = new NativeLoader();

/** The native backend (fp32 and bf16) and its addon, loaded on the first call; or why it cannot load. */
export function loadNativeBackend(): NativeLoad {
  return NATIVE.load();
}

function loadAddon(): NativeLoad {
  if (process.env.RNNLM_BACKEND === 'js') return { error: 'RNNLM_BACKEND=js turns the native backend off' };
  const coretype = configureCoretype();
  const tried: string[] = [];
  for (const file of addonCandidates()) {
    if (!fs.existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as NativeAddon;
      const backend = makeBackend(addon);
      return { backend, bf16: withRounding(backend, 'bf16', (on) => addon.setBf16(on)), addon, file, coretype };
    } catch (e) {
      tried.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return {
    coretype,
    error:
      `the native addon could not be loaded (tried ${tried.join('; ')}). ` +
      'Install libopenblas-dev, pkg-config and a C++ toolchain, then run `npm rebuild rnnlm` (or `npm run build:native`).',
  };
}

/** Every op of the Backend interface; the addon exports each under the same name with the same arguments. */
const OPS = [
  'sgemm', 'embeddingForward', 'embeddingBackward', 'rnnForward', 'rnnBackward', 'lstmForward', 'lstmBackward',
  'gruForward', 'gruBackward', 'dropoutForward', 'dropoutBackward', 'affineForward', 'affineBackward', 'gatherWords', 'scatterAddWords', 'treeSoftmaxForward', 'treeSoftmaxBackward',
  'softmaxCrossEntropyForward', 'softmaxCrossEntropyBackward', 'sgdUpdate', 'sumSquares', 'addSumSquares', 'zero', 'scale',
  'sumSquaresRows', 'sgdUpdateRows', 'addSumSquaresRows', 'renumberFile',
] as const satisfies readonly (keyof Omit<Backend, 'name'>)[];

function makeBackend(a: NativeAddon): Backend {
  const b: Record<string, unknown> = { name: 'native', precision: 'fp32' };
  for (const op of OPS) {
    if (typeof a[op] !== 'function') throw new Error(`the native addon lacks '${op}': rebuild it (npm run build:native)`);
    b[op] = a[op].bind(a);
  }
  b.classSoftmaxForward = (o: ClassSoftmaxOp, h: Float32Array): number => a.classSoftmaxForward(o.zs, o.zp, o.probs, o.hg, h, o.W, o.b,
    o.Wc, o.bc, o.bounds, o.ct, o.order, o.groups, o.ts, o.transW, o.R, o.H, o.V, o.C, o.classes);
  b.classSoftmaxBackward = (o: ClassSoftmaxOp, h: Float32Array, dh: Float32Array, g: ClassSoftmaxGrads, work: Float32Array, scale: number): void =>
    a.classSoftmaxBackward(dh, g.dW, g.db, g.dWc, g.dbc, work, o.zp, o.probs, o.hg, h, o.W, o.Wc, o.bounds, o.ct, o.order, o.groups, o.ts,
      scale, o.transW, o.R, o.H, o.V, o.C, o.classes);
  b.wordCounter = (threads: number): WordCounter => new a.WordCounter(threads);
  b.getThreads = (): number => a.getNumThreads();
  b.setThreads = (n: number): void => a.setNumThreads(n);
  const i = a.info();
  b.bf16Engine = !i.dnnl ? 'emulated' : i.avx512bf16 ? 'native' : 'oneDNN-emulated';
  return b as unknown as Backend;
}

/** What the native engine runs on, or undefined when it is not available. */
export interface NativeInfo {
  file: string;
  /** OpenBLAS's kernel family in use (openblas_get_corename). */
  corename: string;
  config: string;
  blasThreads: number;
  /** The SIMD level of rnnlm's own element-wise kernels. */
  simd: string;
  /** Whether the CPU has AVX512_BF16 (bf16 products in hardware). */
  avx512bf16: boolean;
  /** Whether the addon was built with oneDNN, whose matmul runs the bf16 products (else they are emulated). */
  dnnl: boolean;
  /** The MPI library the addon was built with ("Open MPI v4.1.4"), or '' when built without MPI. */
  mpi: string;
  coretype: CoretypeChoice;
}

export function nativeInfo(): NativeInfo | undefined {
  const n = loadNativeBackend();
  if (!n.addon) return undefined;
  const i = n.addon.info();
  return {
    file: n.file!, corename: i.corename, config: i.config, blasThreads: i.numThreads, simd: i.simd, avx512bf16: i.avx512bf16, dnnl: i.dnnl, mpi: i.mpi,
    coretype: n.coretype!,
  };
}

/** OpenBLAS's thread count (process-wide). Throws when the native backend is not available. */
export function getBlasThreads(): number {
  return requireAddon().getNumThreads();
}

export function setBlasThreads(n: number): void {
  requireAddon().setNumThreads(n);
}

function requireAddon(): NativeAddon {
  const n = loadNativeBackend();
  if (!n.addon) throw new Error(n.error);
  return n.addon;
}


/**
 * `b` with its precision set to bf16, each op run between setRounding(true) and setRounding(false): the addon's
 * per-thread switch of its products to bfloat16 operands.
 */
function withRounding(b: Backend, precision: 'bf16', setRounding: (on: boolean) => void): Backend {
  const out: Record<string, unknown> = { ...b, precision };
  for (const [key, value] of Object.entries(b)) {
    if (typeof value !== 'function' || key === 'getThreads' || key === 'setThreads') continue;
    out[key] = (...args: unknown[]): unknown => {
      setRounding(true);
      try {
        return (value as (...a: unknown[]) => unknown).apply(b, args);
      } finally {
        setRounding(false);
      }
    };
  }
  return out as unknown as Backend;
}
