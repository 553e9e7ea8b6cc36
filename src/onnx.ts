/**
 * ONNX export: a trained model as one ONNX graph (opset 17) that ONNX Runtime, PyTorch's onnx2torch, OpenVINO and
 * the rest can run with no rnnlm code.
 *
 *   inputs:  ids [batch, time] int64, and per state tensor of stateTable (`state.lstm.0.h`, ...) [batch, H] float
 *   outputs: log_probs [batch, time, V] float (natural log-softmax of the scores), and per state tensor the state
 *            after the last step (`next_state.lstm.0.h`, ...)
 *
 * The graph is Gather (embedding) -> per layer ONNX's own RNN / LSTM / GRU operator -> Gemm (the output layer,
 * transB for tied weights, so the embedding is stored once) -> LogSoftmax. No dropout: an exported model is for
 * inference. The recurrent weights are converted to ONNX's layout, each gate's block transposed to [G*H, in]:
 * - LSTM: ours are f, g, i, o; ONNX's i, o, f, c (c = our g).
 * - GRU: both z, r, n (ONNX: z, r, h) with linear_before_reset = 0, our n = tanh(x Wx_n + (r h) Wh_n + b_n);
 *   ONNX computes h' = (1 - z) n + z h where we compute h' = (1 - z) h + z n, so the z gate's weights and bias
 *   are negated (sigma(-a) = 1 - sigma(a)).
 * - Biases: ours become ONNX's input bias Wb; its recurrence bias Rb is zero.
 *
 * The file is written with a small protobuf encoder (src/onnx-proto.ts); ONNX Runtime reading it back in the tests
 * is the check of the encoding. The output head adds its own part of the graph (HeadKind.onnx).
 */
import { cellKind } from './cells';
import { headKind } from './heads';
import { stateTable, tensorLookup, type ModelConfig } from './model';
import { bytes, concat, FLOAT, INT64, int, OnnxGraph, valueInfo, type Field } from './onnx-proto';

// ---- the model -------------------------------------------------------------------------------------------------

export const ONNX_OPSET = 17;
const IR_VERSION = 8;

/**
 * Our [in, G*H] matrix (gate blocks of H columns) -> ONNX's [1, G*H, in] (gate blocks of H rows, in ONNX's gate
 * order and sign).
 */
function onnxGateMatrix(W: Float32Array, inSize: number, H: number, map: [number, number][]): Float32Array {
  const G = map.length;
  const out = new Float32Array(G * H * inSize);
  map.forEach(([ours, sign], q) => {
    for (let j = 0; j < H; j++) {
      const row = (q * H + j) * inSize, col = ours * H + j;
      for (let d = 0; d < inSize; d++) out[row + d] = sign * W[d * G * H + col];
    }
  });
  return out;
}

/** Our bias [G*H] -> ONNX's [1, 2*G*H]: Wb in ONNX's gate order and sign, then Rb = 0. */
function onnxGateBias(b: Float32Array, H: number, map: [number, number][]): Float32Array {
  const out = new Float32Array(2 * map.length * H);
  map.forEach(([ours, sign], q) => {
    for (let j = 0; j < H; j++) out[q * H + j] = sign * b[ours * H + j];
  });
  return out;
}

/**
 * Gather (the embedding), then per layer ONNX's RNN / LSTM / GRU operator from its state inputs, adding each layer's
 * next-state outputs; returns the top layer's output [time, batch, H].
 */
function recurrentGraph(g: OnnxGraph, config: ModelConfig, get: (name: string) => Float32Array, outputs: Field[]): string {
  const { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H } = config;
  const onnx = cellKind(cell).onnx;
  const map = onnx.gates;
  const G = map.length;
  const states = stateTable(config);
  g.init('embed.W', [V, D], get('embed.W'));
  g.node('Gather', ['embed.W', 'ids'], ['embedded'], 'embedding', [{ name: 'axis', i: 0 }]);
  g.node('Transpose', ['embedded'], ['x0'], 'time_major', [{ name: 'perm', ints: [1, 0, 2] }]);
  let x = 'x0';
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? D : H;
    const p = `${cell}.${l}`;
    g.init(`${p}.W`, [1, G * H, inSize], onnxGateMatrix(get(`${p}.Wx`), inSize, H, map));
    g.init(`${p}.R`, [1, G * H, H], onnxGateMatrix(get(`${p}.Wh`), H, H, map));
    g.init(`${p}.B`, [1, 2 * G * H], onnxGateBias(get(`${p}.b`), H, map));
    const layerStates = states.filter((s) => s.layer === l);
    const initial: string[] = [];
    for (const s of layerStates) {
      g.node('Unsqueeze', [`state.${s.name}`, 'axes0'], [`${s.name}.initial`], `${s.name}.unsqueeze`);
      initial.push(`${s.name}.initial`);
    }
    const finals = layerStates.map((s) => `${s.name}.final`);
    g.node(onnx.op, [x, `${p}.W`, `${p}.R`, `${p}.B`, '', ...initial], [`${p}.Y`, ...finals], p, [{ name: 'hidden_size', i: H }, ...onnx.attrs]);
    for (const s of layerStates) {
      g.node('Squeeze', [`${s.name}.final`, 'axes0'], [`next_state.${s.name}`], `${s.name}.squeeze`);
      outputs.push(valueInfo(12, `next_state.${s.name}`, FLOAT, ['batch', H]));
    }
    g.node('Squeeze', [`${p}.Y`, 'axes1'], [`x${l + 1}`], `${p}.squeeze_directions`);
    x = `x${l + 1}`;
  }
  return x;
}

export interface OnnxExportOptions {
  /** id -> word, stored in the model's metadata (`vocab`, JSON) so that a user can map words to ids. */
  vocab?: readonly string[];
  /** The rnnlm version, as producer_version. */
  producerVersion?: string;
  /** More metadata_props. */
  metadata?: Record<string, string>;
}

/** The ONNX model (serialized ModelProto) of a model's config and tensors (by paramTable name). */
export function exportOnnx(config: ModelConfig, tensors: ReadonlyMap<string, Float32Array>, opts: OnnxExportOptions = {}): Uint8Array {
  const { cell, vocabSize: V, hiddenSize: H } = config;
  const head = headKind(config.output);
  if (typeof head.onnx === 'string') throw new RangeError(`Cannot export to ONNX: ${head.onnx}`);
  const get = tensorLookup(config, tensors, 'the ONNX export');
  if (opts.vocab !== undefined && opts.vocab.length !== V) {
    throw new RangeError(`vocabulary has ${opts.vocab.length} words but the model ${V}`);
  }
  const g = new OnnxGraph();
  const inputs: Field[] = [valueInfo(11, 'ids', INT64, ['batch', 'time'])];
  const outputs: Field[] = [valueInfo(12, 'log_probs', FLOAT, ['batch', 'time', V])];
  for (const s of stateTable(config)) inputs.push(valueInfo(11, `state.${s.name}`, FLOAT, ['batch', H]));
  g.initInt64('axes0', [0]);
  g.initInt64('axes1', [1]);
  g.initInt64('flat_shape', [-1, H]);
  g.initInt64('vocab_dim', [V]);
  const x = recurrentGraph(g, config, get, outputs);
  g.node('Transpose', [x], ['hidden'], 'batch_major', [{ name: 'perm', ints: [1, 0, 2] }]);
  g.node('Reshape', ['hidden', 'flat_shape'], ['hidden_rows'], 'rows');
  const logProbs = head.onnx(g, config, get);
  g.node('Shape', ['ids'], ['ids_shape'], 'ids_shape');
  g.node('Concat', ['ids_shape', 'vocab_dim'], ['out_shape'], 'out_shape', [{ name: 'axis', i: 0 }]);
  g.node('Reshape', [logProbs, 'out_shape'], ['log_probs'], 'log_probs');

  const graph = [...g.nodes, bytes(2, `rnnlm ${cell}`), ...g.inits, ...inputs, ...outputs];
  const meta: Record<string, string> = { architecture: JSON.stringify({ ...config, dropout: 0 }), ...opts.metadata };
  if (opts.vocab) meta.vocab = JSON.stringify(opts.vocab);
  return concat([
    int(1, IR_VERSION),
    bytes(2, 'rnnlm'),
    bytes(3, opts.producerVersion ?? ''),
    bytes(7, graph),
    bytes(8, [bytes(1, ''), int(2, ONNX_OPSET)]),
    ...Object.entries(meta).map(([k, v]) => bytes(14, [bytes(1, k), bytes(2, v)])),
  ]);
}
