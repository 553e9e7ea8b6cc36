import * as os from 'node:os';
import { Command } from 'commander';
import { nativeUnavailableReason } from '../backend';
import { nativeInfo } from '../backend/native';

/** The lines of `rnnlm info`: versions, the backend in use and the native engine's kernels. */
export function infoLines(version: string): string[] {
  const lines = [
    `rnnlm ${version}, node ${process.version}, ${os.platform()} ${os.arch()}`,
    `cpu: ${os.cpus()[0]?.model ?? 'unknown'} (${os.availableParallelism()} cores)`,
  ];
  const native = nativeInfo();
  if (!native) {
    lines.push('backend: js (native unavailable)', `native: ${nativeUnavailableReason()}`);
    return lines;
  }
  lines.push(
    'backend: native (default)',
    `native addon: ${native.file}`,
    `openblas: ${native.config}`,
    `openblas kernels: ${native.corename} (OPENBLAS_CORETYPE=${native.coretype.value ?? 'unset'}: ${native.coretype.reason})`,
    `openblas threads: ${native.blasThreads}`,
    `element-wise kernels: ${native.simd}`,
  );
  return lines;
}

export function infoCommand(version: string, out: (line: string) => void): Command {
  return new Command('info')
    .description('Show the versions, the backend and the native engine\'s kernels (OpenBLAS core, SIMD level, threads)')
    .addHelpText('after', '\nExample:\n  $ rnnlm info')
    .action(() => {
      for (const l of infoLines(version)) out(l);
    });
}
