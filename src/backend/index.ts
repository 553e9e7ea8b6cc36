/**
 * Backend selection. `native` is the C++/OpenBLAS addon (see ./native.ts), `js` the pure-TypeScript reference.
 */
import type { Backend, Precision } from './types';
import { jsBackend, jsBf16Backend } from './js';
import { loadNativeBackend, type NativeLoad } from './native';

export { PRECISIONS, SCRATCH, type Backend, type Bf16Engine, type ClassSoftmaxGrads, type ClassSoftmaxOp, type Precision, type WordCounter, type WordCounts } from './types';
export { jsBackend, jsBf16Backend, roundBf16 } from './js';

export type BackendName = 'js' | 'native';
export const BACKEND_NAMES: readonly BackendName[] = ['js', 'native'];

/**
 * The backend for a name or instance, with products in `precision` (fp32 unless given; an instance keeps its own
 * unless one is given). `undefined` means the best available: `native` when the addon loaded, else `js` (the
 * reason is available from `nativeUnavailableReason()`). Asking for `native` by name when it cannot load throws
 * the loader's message.
 */
export function resolveBackend(b?: BackendName | Backend, precision?: Precision): Backend {
  if (precision !== undefined && precision !== 'fp32' && precision !== 'bf16') {
    throw new RangeError(`Unknown precision '${String(precision)}': expected fp32 or bf16`);
  }
  if (b === undefined) {
    const native = loadNativeBackend();
    if (native.backend) return precision === 'bf16' ? native.bf16! : native.backend;
    warnFallbackOnce(native);
    return precision === 'bf16' ? jsBf16Backend : jsBackend;
  }
  if (typeof b === 'object') return precision === undefined || precision === b.precision ? b : resolveBackend(b.name, precision);
  if (b === 'js') return precision === 'bf16' ? jsBf16Backend : jsBackend;
  if (b === 'native') {
    const native = loadNativeBackend();
    if (!native.backend) throw new Error(native.error);
    return precision === 'bf16' ? native.bf16! : native.backend;
  }
  throw new RangeError(`Unknown backend '${String(b)}': expected one of ${BACKEND_NAMES.join(', ')}`);
}

/**
 * Says once per process (the failed load remembers it), as a Node.js warning (RNNLM_JS_FALLBACK; silence it with
 * --no-warnings or RNNLM_BACKEND=js), that the best backend was asked for and the pure-TypeScript one will run, and why.
 */
function warnFallbackOnce(native: NativeLoad): void {
  if (native.fallbackTold || process.env.RNNLM_BACKEND === 'js') return;
  native.fallbackTold = true;
  process.emitWarning(fallbackMessage(native.error ?? 'unknown reason'), { code: 'RNNLM_JS_FALLBACK' });
}

/** What rnnlm says when the best backend was asked for and the pure-TypeScript one runs (the library and the CLI). */
export function fallbackMessage(reason: string): string {
  return `rnnlm uses the js backend (about 100x slower): ${reason.split('\n')[0]}`;
}

/** Why the native backend is not available, or undefined when it is. */
export function nativeUnavailableReason(): string | undefined {
  return loadNativeBackend().error;
}
