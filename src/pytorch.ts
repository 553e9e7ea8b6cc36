/**
 * Weights for PyTorch's word_language_model (pytorch/examples, model.py `RNNModel`): the state_dict tensor names
 * and layouts of its `encoder` (nn.Embedding), `rnn` (nn.RNN with tanh, or nn.LSTM) and `decoder` (nn.Linear), so
 * that `model.load_state_dict(safetensors.torch.load_file(path))` gives the same model.
 *
 * - `encoder.weight` [V, D] = embed.W.
 * - `rnn.weight_ih_l{l}` [G*H, in] and `rnn.weight_hh_l{l}` [G*H, H]: our Wx and Wh transposed, the LSTM's gate
 *   blocks reordered from the book's f, g, i, o to PyTorch's i, f, g, o; `rnn.bias_ih_l{l}` = our b and
 *   `rnn.bias_hh_l{l}` = 0 (PyTorch adds the two).
 * - `decoder.weight` [V, H] = affine.W transposed, or with tied weights a copy of the embedding (PyTorch's tied
 *   model lists both names for the one tensor); `decoder.bias` = affine.b.
 *
 * GRU is refused: nn.GRU applies the reset gate after the recurrent product, n = tanh(W_in x + r * (W_hn h + b_hn)),
 * where the book's GRU (and rnnlm's) multiplies first, n = tanh(x Wx_n + (r * h) Wh_n + b_n); no weights make the
 * two equal. The ONNX export (linear_before_reset = 0) carries it exactly.
 */
import { cellKind } from './cells';
import { headKind } from './heads';
import { tensorLookup, type ModelConfig } from './model';
import type { Tensor } from './safetensors';

/** Our [in, G*H] (gate blocks of H columns) -> PyTorch's [G*H, in] (blocks of H rows, in PyTorch's order). */
function torchGateMatrix(W: Float32Array, inSize: number, H: number, order: readonly number[]): Float32Array {
  const GH = order.length * H;
  const out = new Float32Array(GH * inSize);
  order.forEach((ours, q) => {
    for (let j = 0; j < H; j++) {
      const row = (q * H + j) * inSize, col = ours * H + j;
      for (let d = 0; d < inSize; d++) out[row + d] = W[d * GH + col];
    }
  });
  return out;
}

/** PyTorch's RNN type and gate order of a config's cell; a RangeError says why PyTorch has none that equals it. */
function torchCell(config: ModelConfig): { type: string; gates: readonly number[] } {
  const t = cellKind(config.cell).pytorch;
  if (typeof t === 'string') throw new RangeError(t);
  return t;
}

/** PyTorch's RNNModel constructor arguments for a config, as the metadata of the exported file records them. */
export function pytorchModelArgs(config: ModelConfig): Record<string, string> {
  return {
    rnn_type: torchCell(config).type,
    ntoken: String(config.vocabSize), ninp: String(config.wordvecSize), nhid: String(config.hiddenSize),
    nlayers: String(config.layers), tie_weights: String(config.tied),
  };
}

/** The state_dict of PyTorch's RNNModel for a model's config and tensors (by paramTable name). */
export function pytorchStateDict(config: ModelConfig, tensors: ReadonlyMap<string, Float32Array>): [string, Tensor][] {
  const { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H } = config;
  const head = headKind(config.output);
  if (typeof head.pytorch === 'string') throw new RangeError(`Cannot export to PyTorch: ${head.pytorch}`);
  const get = tensorLookup(config, tensors, 'the PyTorch export');
  const order = torchCell(config).gates;
  const GH = order.length * H;
  const out: [string, Tensor][] = [['encoder.weight', { shape: [V, D], data: get('embed.W') }]];
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? D : H, p = `${cell}.${l}`;
    const b = get(`${p}.b`), bias = new Float32Array(GH);
    order.forEach((ours, q) => bias.set(b.subarray(ours * H, ours * H + H), q * H));
    out.push(
      [`rnn.weight_ih_l${l}`, { shape: [GH, inSize], data: torchGateMatrix(get(`${p}.Wx`), inSize, H, order) }],
      [`rnn.weight_hh_l${l}`, { shape: [GH, H], data: torchGateMatrix(get(`${p}.Wh`), H, H, order) }],
      [`rnn.bias_ih_l${l}`, { shape: [GH], data: bias }],
      [`rnn.bias_hh_l${l}`, { shape: [GH], data: new Float32Array(GH) }],
    );
  }
  out.push(...head.pytorch(config, get));
  return out;
}
