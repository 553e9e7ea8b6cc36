/** `rnnlm export MODEL --onnx OUT`: a weights file as an ONNX model (see src/onnx.ts for its inputs and outputs). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { writeFileAtomic } from '../atomic';
import { stateTable } from '../model';
import { exportOnnx } from '../onnx';
import { ioReason, readWeights } from '../weights';
import { UsageError } from './args';
import type { Io } from './train';

export interface ExportFlags {
  onnx?: string;
}

export function exportModel(file: string, flags: ExportFlags, version: string, io: Io): void {
  if (flags.onnx === undefined) throw new UsageError('export needs an output: --onnx FILE');
  const out = flags.onnx;
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new UsageError(`cannot write ${out}: folder ${dir} does not exist`);
  const w = readWeights(file);
  const tensors = new Map([...w.tensors].map(([name, t]) => [name, t.data]));
  const bytes = exportOnnx(w.config, tensors, {
    vocab: w.vocab, producerVersion: version, metadata: { source: path.basename(file) },
  });
  try {
    writeFileAtomic(out, bytes);
  } catch (e) {
    throw new Error(`cannot write ${out}: ${ioReason(e)}`, { cause: e });
  }
  const c = w.config;
  io.out(`wrote ${out} (${(bytes.length / 2 ** 20).toFixed(1)} MiB): ONNX opset 17, ${c.cell} x ${c.layers}, vocabulary ${c.vocabSize}, hidden ${c.hiddenSize}${c.tied ? ', tied' : ''}${w.vocab ? ', vocabulary in metadata_props["vocab"]' : ''}`);
  const states = stateTable(c).map((s) => s.name);
  io.out(`inputs: ids [batch, time] int64; ${states.map((s) => `state.${s}`).join(', ')} [batch, ${c.hiddenSize}] float`);
  io.out(`outputs: log_probs [batch, time, ${c.vocabSize}] float; ${states.map((s) => `next_state.${s}`).join(', ')} [batch, ${c.hiddenSize}] float`);
}

export function exportCommand(run: (file: string, flags: ExportFlags) => void): Command {
  return new Command('export')
    .description('Convert a weights file to another format: ONNX (for ONNX Runtime and other inference engines)')
    .argument('<weights>', 'a .safetensors file written by rnnlm train --save')
    .option('--onnx <file>', 'write an ONNX model (opset 17): ids and state in, log-probabilities and next state out')
    .addHelpText('after', `
The ONNX graph is Gather -> ONNX RNN/LSTM/GRU per layer -> Gemm -> LogSoftmax, without dropout. Its inputs are
ids [batch, time] (int64) and every layer's state (zeros for a fresh start); its outputs the natural-log
probabilities of the next word at every position and the state after the last step. The vocabulary, when the
weights carry one, is stored as JSON in the model's metadata_props under "vocab".

Examples:
  $ rnnlm export model.safetensors --onnx model.onnx`)
    .action((file: string, opts: ExportFlags) => run(file, opts));
}
