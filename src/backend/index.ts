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
    return native.backend ?? jsBackend;
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

/** Why the native backend is not available, or undefined when it is. */
export function nativeUnavailableReason(): string | undefined {
  return loadNativeBackend().error;
}
