/**
 * `rnnlm export MODEL --onnx OUT` / `--pytorch OUT`: a weights file as an ONNX model (src/onnx.ts) or as weights
 * for PyTorch's word_language_model (src/pytorch.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { writeFileAtomic } from '../atomic';
import { stateTable } from '../model';
import { exportOnnx } from '../onnx';
import { pytorchModelArgs, pytorchStateDict } from '../pytorch';
import { serializeSafetensors } from '../safetensors';
import { ioReason, readWeights } from '../weights';
import { UsageError } from './args';
import type { Io } from './io';

export interface ExportFlags {
  onnx?: string;
  pytorch?: string;
}

function checkFolder(out: string): void {
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir)) throw new UsageError(`cannot write ${out}: folder ${dir} does not exist`);
}

function write(out: string, bytes: Uint8Array): void {
  try {
    writeFileAtomic(out, bytes);
  } catch (e) {
    throw new Error(`cannot write ${out}: ${ioReason(e)}`, { cause: e });
  }
}

export function exportModel(file: string, flags: ExportFlags, version: string, io: Io): void {
  if (flags.onnx === undefined && flags.pytorch === undefined) throw new UsageError('export needs an output: --onnx FILE or --pytorch FILE');
  for (const out of [flags.onnx, flags.pytorch]) if (out !== undefined) checkFolder(out);
  const w = readWeights(file);
  const c = w.config;
  const tensors = new Map([...w.tensors].map(([name, t]) => [name, t.data]));
  // Both conversions run before anything is written: a refused one leaves no half-done export.
  const pytorch = flags.pytorch === undefined ? undefined : serializeSafetensors(pytorchStateDict(c, tensors), {
    format: 'pytorch.word_language_model', ...pytorchModelArgs(c), ...(w.vocab ? { vocab: JSON.stringify(w.vocab) } : {}),
  });
  const onnx = flags.onnx === undefined ? undefined : exportOnnx(c, tensors, {
    vocab: w.vocab, producerVersion: version, metadata: { source: path.basename(file) },
  });
  const model = `${c.cell} x ${c.layers}, vocabulary ${c.vocabSize}, hidden ${c.hiddenSize}${c.tied ? ', tied' : ''}`;
  if (onnx && flags.onnx !== undefined) {
    write(flags.onnx, onnx);
    io.out(`wrote ${flags.onnx} (${(onnx.length / 2 ** 20).toFixed(1)} MiB): ONNX opset 17, ${model}${w.vocab ? ', vocabulary in metadata_props["vocab"]' : ''}`);
    const states = stateTable(c).map((s) => s.name);
    io.out(`inputs: ids [batch, time] int64; ${states.map((s) => `state.${s}`).join(', ')} [batch, ${c.hiddenSize}] float`);
    io.out(`outputs: log_probs [batch, time, ${c.vocabSize}] float; ${states.map((s) => `next_state.${s}`).join(', ')} [batch, ${c.hiddenSize}] float`);
  }
  if (pytorch && flags.pytorch !== undefined) {
    write(flags.pytorch, pytorch);
    const a = pytorchModelArgs(c);
    io.out(`wrote ${flags.pytorch}: the state_dict of PyTorch word_language_model's RNNModel('${a.rnn_type}', ${a.ntoken}, ${a.ninp}, ${a.nhid}, ${a.nlayers}, tie_weights=${c.tied ? 'True' : 'False'}) (see docs/pytorch.md)`);
  }
}

export function exportCommand(run: (file: string, flags: ExportFlags) => void): Command {
  return new Command('export')
    .description('Convert a weights file for other tools: ONNX (ONNX Runtime and other inference engines) or PyTorch (word_language_model)')
    .argument('<weights>', 'a .safetensors file written by rnnlm train --save')
    .option('--onnx <file>', 'write an ONNX model (opset 17): ids and state in, log-probabilities and next state out')
    .option('--pytorch <file>', 'write the state_dict of PyTorch word_language_model\'s RNNModel (.safetensors; rnn and lstm)')
    .addHelpText('after', `
The ONNX graph is Gather -> ONNX RNN/LSTM/GRU per layer -> Gemm -> LogSoftmax, without dropout. Its inputs are
ids [batch, time] (int64) and every layer's state (zeros for a fresh start); its outputs the natural-log
probabilities of the next word at every position and the state after the last step. The vocabulary, when the
weights carry one, is stored as JSON in the model's metadata_props under "vocab".

--pytorch writes PyTorch's tensor names and layouts (encoder.weight, rnn.weight_ih_l0, ..., decoder.weight;
LSTM gates reordered to i, f, g, o) and the RNNModel arguments in the file's metadata: see docs/pytorch.md.

Examples:
  $ rnnlm export model.safetensors --onnx model.onnx
  $ rnnlm export model.safetensors --pytorch model-pytorch.safetensors`)
    .action((file: string, opts: ExportFlags) => run(file, opts));
}
