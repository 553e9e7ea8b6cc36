/** What the commands share: their output streams, the backend choice and the interrupted-run error. */
import { fallbackMessage, nativeUnavailableReason, resolveBackend, type Backend, type BackendName, type Precision } from '../backend';

/** Where a command writes its lines: standard output and standard error, or a test's collectors. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** The interrupted-run message and exit code 130 (Ctrl-C or SIGTERM), after the checkpoint was written. */
export class Interrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Interrupted';
  }
}

/** The backend asked for, or the best available with a one-line notice when native is missing. */
export function pickBackend(name: BackendName | undefined, warn: (line: string) => void, precision: Precision = 'fp32'): Backend {
  if (name !== undefined) return resolveBackend(name, precision);
  const reason = nativeUnavailableReason();
  if (reason === undefined) return resolveBackend('native', precision);
  warn(fallbackMessage(reason));
  return resolveBackend('js', precision);
}
