import * as os from 'node:os';
import { Command } from 'commander';
import { nativeUnavailableReason } from '../backend';
import { nativeInfo } from '../backend/native';
import { headKind } from '../heads';
import { paramTable, stateTable } from '../model';
import { flagOf } from '../options';
import { ALL_RUN_OPTIONS, RUN_PARTS } from '../run-options';
import { storedValue, type RunConfig } from './run-config';
import { parseSafetensors } from '../safetensors';
import { readBytes, weightsFromSafetensors } from '../weights';

/** The lines of `rnnlm info FILE`: a weights file's or checkpoint's architecture, sizes and tensors. */
export function fileInfoLines(file: string): string[] {
  const raw = parseSafetensors(readBytes(file, 'file'), file);
  const meta = { ...raw.metadata };
  const w = weightsFromSafetensors(raw, file, (name) => meta.format === 'rnnlm.checkpoint' && name.startsWith('state.'));
  const c = w.config;
  const head = headKind(c.output).describe(c);
  const specs = paramTable(c);
  const count = specs.reduce((a, s) => a + s.size, 0);
  const lines = [
    `${file}: ${meta.format === 'rnnlm.checkpoint' ? `rnnlm checkpoint (version ${meta.version})` : meta.format ? `weights (${meta.format})` : 'weights (no rnnlm metadata: architecture read from the tensors)'}`,
    `model: ${c.cell}, ${c.layers} layer${c.layers > 1 ? 's' : ''}, vocabulary ${c.vocabSize}, wordvec ${c.wordvecSize}, hidden ${c.hiddenSize}, dropout ${c.dropout}, ${c.tied ? 'tied' : 'untied'} output weights${head ? `, ${head}` : ''}`,
    `parameters: ${count.toLocaleString('en-US')} (${(count * 4 / 2 ** 20).toFixed(1)} MiB as float32)`,
    `vocabulary: ${w.vocab ? `${w.vocab.length} words stored` : 'not stored'}`,
  ];
  for (const s of specs) lines.push(`  ${s.name.padEnd(14)} [${s.shape.join(', ')}]`);
  if (meta.format === 'rnnlm.checkpoint') {
    try {
      const t = JSON.parse(meta.trainer ?? '{}') as { epoch?: number; iter?: number };
      const run = JSON.parse(meta.config ?? '{}') as { precision?: string };
      lines.push(`training state: epoch ${t.epoch}, ${t.iter} iterations done; lr ${meta.lr}; ${run.precision ?? 'fp32'} products`);
    } catch {
      lines.push('training state: unreadable');
    }
    const states = stateTable(c).filter((s) => raw.tensors.has(`state.${s.name}`)).map((s) => s.name);
    lines.push(`recurrent state: ${states.length > 0 ? states.join(', ') : 'none'}`);
    lines.push(...runOptionLines(meta.config));
  }
  return lines;
}

/**
 * A checkpoint's run options by part, as the flags that make the run (`model: --model lstm --num-layers 2 ...`);
 * what an older checkpoint lacks shows as what it stands for.
 */
function runOptionLines(json: string | undefined): string[] {
  let config: RunConfig;
  try {
    config = JSON.parse(json ?? '') as RunConfig;
  } catch {
    return ['run options: unreadable'];
  }
  const parts = RUN_PARTS.map((part) => {
    const flags = ALL_RUN_OPTIONS.filter((o) => o.part === part && o.stored !== 'no').flatMap((o) => {
      const v = storedValue(config, o);
      if (v === undefined || v === false && o.value.type === 'switch' && !('negatable' in o.value && o.value.negatable)) return [];
      if (o.value.type === 'switch') return [v ? flagOf(o.key) : `--no-${flagOf(o.key).slice(2)}`];
      return [`${flagOf(o.key)} ${String(v)}`];
    });
    return flags.length > 0 ? [`  ${part}: ${flags.join(' ')}`] : [];
  });
  return ['run options:', ...parts.flat()];
}

/** What --precision bf16 runs on: rnnlm's one bf16 engine. */
const BF16_EMULATED = 'emulated (--precision bf16 rounds every product\'s operands to bfloat16 and multiplies in float32: bf16\'s numbers at fp32\'s speed or less)';

/** The lines of `rnnlm info`: versions, the backend in use and the native engine's kernels. */
export function infoLines(version: string): string[] {
  const lines = [
    `rnnlm ${version}, node ${process.version}, ${os.platform()} ${os.arch()}`,
    `cpu: ${os.cpus()[0]?.model ?? 'unknown'} (${os.availableParallelism()} cores)`,
  ];
  const native = nativeInfo();
  if (!native) {
    lines.push('backend: js (native unavailable)', `native: ${nativeUnavailableReason()}`, `bf16: ${BF16_EMULATED}`, 'mpi: not built (the native addon is not loaded)');
    return lines;
  }
  lines.push(
    'backend: native (default)',
    `native addon: ${native.file}`,
    `openblas: ${native.config}`,
    `openblas kernels: ${native.corename} (OPENBLAS_CORETYPE=${native.coretype.value ?? 'unset'}: ${native.coretype.reason})`,
    `openblas threads: ${native.blasThreads}`,
    `element-wise kernels: ${native.simd}`,
    `bf16: ${!native.dnnl ? `${BF16_EMULATED} (built without oneDNN: install libdnnl-dev and rebuild)`
      : native.avx512bf16 ? 'native (oneDNN bf16 matmuls on this CPU\'s AVX512_BF16, float32 sums)'
        : 'emulated by oneDNN (bf16 matmuls, float32 sums; this CPU lacks AVX512_BF16)'}`,
    `mpi: ${native.mpi ? `${native.mpi} (built: the addon can sum across processes started by mpirun)` : 'not built (install libopenmpi-dev and run npm run build:native)'}`,
  );
  return lines;
}

export function infoCommand(version: string, out: (line: string) => void): Command {
  return new Command('info')
    .description('Show the versions, the backend and the native engine\'s kernels (OpenBLAS core, SIMD level, threads); with a file, its architecture and tensors')
    .argument('[file]', 'a weights file or checkpoint (.safetensors) to describe')
    .addHelpText('after', '\nExamples:\n  $ rnnlm info\n  $ rnnlm info model.safetensors')
    .action((file?: string) => {
      for (const l of file === undefined ? infoLines(version) : fileInfoLines(file)) out(l);
    });
}
