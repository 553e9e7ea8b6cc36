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
 * The file is written with a small protobuf encoder (write-only, the nine ONNX messages used here, field numbers
 * from onnx.proto); ONNX Runtime reading it back in the tests is the check of the encoding.
 */
import { stateTable, tensorLookup, type ModelConfig } from './model';

// ---- protobuf wire format --------------------------------------------------------------------------------------

type Field = Uint8Array;

function varint(v: bigint): number[] {
  let x = BigInt.asUintN(64, v); // negative int64 values are ten bytes of two's complement
  const out: number[] = [];
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

function key(field: number, wire: number): number[] {
  return varint(BigInt((field << 3) | wire));
}

/** An integer field (int32 / int64 / enum). */
function int(field: number, v: number): Field {
  return Uint8Array.from([...key(field, 0), ...varint(BigInt(v))]);
}

/** A float field (fixed32). */
function float(field: number, v: number): Field {
  const k = key(field, 5);
  const b = new Uint8Array(k.length + 4);
  b.set(k);
  new DataView(b.buffer).setFloat32(k.length, v, true);
  return b;
}

/** A length-delimited field: bytes, a string or an embedded message (its fields). */
function bytes(field: number, data: Uint8Array | string | Field[]): Field {
  const body = typeof data === 'string' ? new TextEncoder().encode(data) : Array.isArray(data) ? concat(data) : data;
  const head = [...key(field, 2), ...varint(BigInt(body.length))];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

function concat(parts: Field[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- ONNX messages (field numbers of onnx.proto) ---------------------------------------------------------------

const FLOAT = 1;
const INT64 = 7;

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian). */
function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): Field[] {
  const raw = new Uint8Array(data.byteLength);
  const dv = new DataView(raw.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  else data.forEach((v, i) => dv.setBigInt64(8 * i, v, true));
  return [...dims.map((d) => int(1, d)), int(2, data instanceof Float32Array ? FLOAT : INT64), bytes(8, name), bytes(9, raw)];
}

/**
 * ValueInfoProto of a tensor, as GraphProto field `field` (input 11, output 12): name 1, type 2 { tensor_type 1
 * { elem_type 1, shape 2 { dim 1 { dim_value 1 | dim_param 2 } } } }.
 */
function valueInfo(field: number, name: string, elemType: number, dims: (number | string)[]): Field {
  const shape = dims.map((d) => bytes(1, [typeof d === 'number' ? int(1, d) : bytes(2, d)]));
  return bytes(field, [bytes(1, name), bytes(2, [bytes(1, [int(1, elemType), bytes(2, shape)])])]);
}

type Attr = { name: string; i?: number; f?: number; ints?: number[]; s?: string; strings?: string[] };

/** AttributeProto: name 1, f 2, i 3, s 4, ints 8, strings 9, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7, STRINGS 8). */
function attribute(a: Attr): Field {
  const f: Field[] = [bytes(1, a.name)];
  if (a.f !== undefined) f.push(float(2, a.f), int(20, 1));
  else if (a.i !== undefined) f.push(int(3, a.i), int(20, 2));
  else if (a.s !== undefined) f.push(bytes(4, a.s), int(20, 3));
  else if (a.ints !== undefined) f.push(...a.ints.map((v) => int(8, v)), int(20, 7));
  else if (a.strings !== undefined) f.push(...a.strings.map((v) => bytes(9, v)), int(20, 8));
  return bytes(5, f);
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5. */
function node(op: string, inputs: string[], outputs: string[], name: string, attrs: Attr[] = []): Field {
  return bytes(1, [...inputs.map((s) => bytes(1, s)), ...outputs.map((s) => bytes(2, s)), bytes(3, name), bytes(4, op), ...attrs.map(attribute)]);
}

// ---- the model -------------------------------------------------------------------------------------------------

export const ONNX_OPSET = 17;
const IR_VERSION = 8;
const ONNX_OP: Record<ModelConfig['cell'], string> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };
/** For each ONNX gate block, the index of our gate block and its sign. */
const GATE_MAP: Record<ModelConfig['cell'], [number, number][]> = {
  rnn: [[0, 1]],
  lstm: [[2, 1], [3, 1], [0, 1], [1, 1]], // ONNX i, o, f, c <- our i, o, f, g
  gru: [[0, -1], [1, 1], [2, 1]], // ONNX z = 1 - our z: negated pre-activation
};

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
  const { cell, layers, vocabSize: V, wordvecSize: D, hiddenSize: H, tied } = config;
  if (config.output === 'class' || config.output === 'tree') throw new RangeError(`The ONNX export covers the full softmax (and sampled-softmax models, whose weights are a full softmax), not the ${config.output} output layer`);
  const get = tensorLookup(config, tensors, 'the ONNX export');
  if (opts.vocab !== undefined && opts.vocab.length !== V) {
    throw new RangeError(`vocabulary has ${opts.vocab.length} words but the model ${V}`);
  }
  const map = GATE_MAP[cell];
  const G = map.length;
  const nodes: Field[] = [];
  const inits: Field[] = [];
  const inputs: Field[] = [valueInfo(11, 'ids', INT64, ['batch', 'time'])];
  const outputs: Field[] = [valueInfo(12, 'log_probs', FLOAT, ['batch', 'time', V])];
  const states = stateTable(config);
  for (const s of states) inputs.push(valueInfo(11, `state.${s.name}`, FLOAT, ['batch', H]));
  const c64 = (name: string, v: number[]): void => void inits.push(bytes(5, tensor(name, [v.length], BigInt64Array.from(v.map(BigInt)))));
  c64('axes0', [0]);
  c64('axes1', [1]);
  c64('flat_shape', [-1, H]);
  c64('vocab_dim', [V]);

  inits.push(bytes(5, tensor('embed.W', [V, D], get('embed.W'))));
  nodes.push(node('Gather', ['embed.W', 'ids'], ['embedded'], 'embedding', [{ name: 'axis', i: 0 }]));
  nodes.push(node('Transpose', ['embedded'], ['x0'], 'time_major', [{ name: 'perm', ints: [1, 0, 2] }]));
  let x = 'x0';
  for (let l = 0; l < layers; l++) {
    const inSize = l === 0 ? D : H;
    const p = `${cell}.${l}`;
    inits.push(
      bytes(5, tensor(`${p}.W`, [1, G * H, inSize], onnxGateMatrix(get(`${p}.Wx`), inSize, H, map))),
      bytes(5, tensor(`${p}.R`, [1, G * H, H], onnxGateMatrix(get(`${p}.Wh`), H, H, map))),
      bytes(5, tensor(`${p}.B`, [1, 2 * G * H], onnxGateBias(get(`${p}.b`), H, map))),
    );
    const layerStates = states.filter((s) => s.layer === l);
    const initial: string[] = [];
    for (const s of layerStates) {
      nodes.push(node('Unsqueeze', [`state.${s.name}`, 'axes0'], [`${s.name}.initial`], `${s.name}.unsqueeze`));
      initial.push(`${s.name}.initial`);
    }
    const finals = layerStates.map((s) => `${s.name}.final`);
    nodes.push(node(ONNX_OP[cell], [x, `${p}.W`, `${p}.R`, `${p}.B`, '', ...initial], [`${p}.Y`, ...finals], p, [
      { name: 'hidden_size', i: H },
      ...(cell === 'gru' ? [{ name: 'linear_before_reset', i: 0 }] : []),
    ]));
    for (const s of layerStates) {
      nodes.push(node('Squeeze', [`${s.name}.final`, 'axes0'], [`next_state.${s.name}`], `${s.name}.squeeze`));
      outputs.push(valueInfo(12, `next_state.${s.name}`, FLOAT, ['batch', H]));
    }
    nodes.push(node('Squeeze', [`${p}.Y`, 'axes1'], [`x${l + 1}`], `${p}.squeeze_directions`));
    x = `x${l + 1}`;
  }
  nodes.push(node('Transpose', [x], ['hidden'], 'batch_major', [{ name: 'perm', ints: [1, 0, 2] }]));
  nodes.push(node('Reshape', ['hidden', 'flat_shape'], ['hidden_rows'], 'rows'));
  if (!tied) inits.push(bytes(5, tensor('affine.W', [H, V], get('affine.W'))));
  inits.push(bytes(5, tensor('affine.b', [V], get('affine.b'))));
  nodes.push(node('Gemm', ['hidden_rows', tied ? 'embed.W' : 'affine.W', 'affine.b'], ['scores'], 'affine', [{ name: 'transB', i: tied ? 1 : 0 }]));
  nodes.push(node('LogSoftmax', ['scores'], ['log_probs_rows'], 'log_softmax', [{ name: 'axis', i: 1 }]));
  nodes.push(node('Shape', ['ids'], ['ids_shape'], 'ids_shape'));
  nodes.push(node('Concat', ['ids_shape', 'vocab_dim'], ['out_shape'], 'out_shape', [{ name: 'axis', i: 0 }]));
  nodes.push(node('Reshape', ['log_probs_rows', 'out_shape'], ['log_probs'], 'log_probs'));

  const graph = [...nodes, bytes(2, `rnnlm ${cell}`), ...inits, ...inputs, ...outputs];
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
