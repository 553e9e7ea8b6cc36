/**
 * The native backend: loads the C++ addon built by node-gyp from binding.gyp. Placeholder until the addon
 * exists: reports that it is not built.
 */
import type { Backend } from './types';

export interface NativeLoad {
  backend?: Backend;
  error?: string;
}

let cached: NativeLoad | undefined;

export function loadNativeBackend(): NativeLoad {
  cached ??= { error: 'the native backend is not built in this version' };
  return cached;
}
