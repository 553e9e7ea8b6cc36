/**
 * Backend selection. `native` is the C++/OpenBLAS addon (see ./native.ts), `js` the pure-TypeScript reference.
 */
import type { Backend } from './types';
import { jsBackend } from './js';
import { loadNativeBackend } from './native';

export type { Backend } from './types';
export { jsBackend } from './js';

export type BackendName = 'js' | 'native';
export const BACKEND_NAMES: readonly BackendName[] = ['js', 'native'];

/**
 * The backend for a name or instance. `undefined` means the best available: `native` when the addon loaded,
 * else `js` (the reason is available from `nativeUnavailableReason()`). Asking for `native` by name when it
 * cannot load throws the loader's message.
 */
export function resolveBackend(b?: BackendName | Backend): Backend {
  if (b === undefined) {
    const native = loadNativeBackend();
    if (native.backend) return native.backend;
    warnFallbackOnce(native.error ?? 'unknown reason');
    return jsBackend;
  }
  if (typeof b === 'object') return b;
  if (b === 'js') return jsBackend;
  if (b === 'native') {
    const native = loadNativeBackend();
    if (!native.backend) throw new Error(native.error);
    return native.backend;
  }
  throw new RangeError(`Unknown backend '${String(b)}': expected one of ${BACKEND_NAMES.join(', ')}`);
}

let warned = false;

/**
 * Says once per process, as a Node.js warning (RNNLM_JS_FALLBACK; silence it with --no-warnings or
 * RNNLM_BACKEND=js), that the best backend was asked for and the pure-TypeScript one will run, and why.
 */
function warnFallbackOnce(reason: string): void {
  if (warned || process.env.RNNLM_BACKEND === 'js') return;
  warned = true;
  process.emitWarning(`rnnlm uses the js backend (about 100x slower): ${reason}`, { code: 'RNNLM_JS_FALLBACK' });
}

/** Why the native backend is not available, or undefined when it is. */
export function nativeUnavailableReason(): string | undefined {
  return loadNativeBackend().error;
}
