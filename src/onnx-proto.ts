/**
 * The write-only protobuf encoder of the ONNX export (the nine ONNX messages it uses, field numbers from
 * onnx.proto) and `OnnxGraph`, the nodes and initializers a graph collects: the model's layers and its output
 * head (src/heads/) each add theirs.
 */

// ---- protobuf wire format --------------------------------------------------------------------------------------

export type Field = Uint8Array;

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
export function int(field: number, v: number): Field {
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
export function bytes(field: number, data: Uint8Array | string | Field[]): Field {
  const body = typeof data === 'string' ? new TextEncoder().encode(data) : Array.isArray(data) ? concat(data) : data;
  const head = [...key(field, 2), ...varint(BigInt(body.length))];
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

export function concat(parts: Field[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- ONNX messages (field numbers of onnx.proto) ---------------------------------------------------------------

export const FLOAT = 1;
export const INT64 = 7;

/** TensorProto: dims 1, data_type 2, name 8, raw_data 9 (little-endian). */
export function tensor(name: string, dims: number[], data: Float32Array | BigInt64Array): Field[] {
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
export function valueInfo(field: number, name: string, elemType: number, dims: (number | string)[]): Field {
  const shape = dims.map((d) => bytes(1, [typeof d === 'number' ? int(1, d) : bytes(2, d)]));
  return bytes(field, [bytes(1, name), bytes(2, [bytes(1, [int(1, elemType), bytes(2, shape)])])]);
}

export type Attr = { name: string; i?: number; f?: number; ints?: number[]; s?: string; strings?: string[] };

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
export function node(op: string, inputs: string[], outputs: string[], name: string, attrs: Attr[] = []): Field {
  return bytes(1, [...inputs.map((s) => bytes(1, s)), ...outputs.map((s) => bytes(2, s)), bytes(3, name), bytes(4, op), ...attrs.map(attribute)]);
}

// ---- a graph under construction -------------------------------------------------------------------------------

/** The nodes and initializers of a graph, in the order they are added. */
export class OnnxGraph {
  readonly nodes: Field[] = [];
  readonly inits: Field[] = [];

  node(op: string, inputs: string[], outputs: string[], name: string, attrs: Attr[] = []): void {
    this.nodes.push(node(op, inputs, outputs, name, attrs));
  }

  /** A float initializer (a weight) of shape dims. */
  init(name: string, dims: number[], data: Float32Array): void {
    this.inits.push(bytes(5, tensor(name, dims, data)));
  }

  /** An int64 initializer (a shape or axes). */
  initInt64(name: string, values: number[]): void {
    this.inits.push(bytes(5, tensor(name, [values.length], BigInt64Array.from(values.map(BigInt)))));
  }
}
