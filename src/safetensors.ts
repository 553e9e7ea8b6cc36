/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: { string: string } }`, then the raw
 * little-endian tensor bytes, offsets relative to the end of the header. Only F32 tensors are read here.
 * The reader checks every field against the buffer before it allocates or copies anything.
 */

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** A weights file that is not a valid safetensors file, or not one this model can use. */
export class WeightsFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightsFormatError';
  }
}

/** Header bigger than this is refused before parsing (real headers here are a few hundred bytes). */
const MAX_HEADER = 100 * 1024 * 1024;
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export function parseSafetensors(buf: Uint8Array, source = 'weights file'): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new WeightsFormatError(`${source}: ${msg}`);
  };
  if (buf.length < 8) fail(`too short for a safetensors file (${buf.length} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(buf.length - 8)) {
    // A text file (or anything else) read as safetensors: its first 8 bytes are no header length.
    fail(`not a safetensors file (its first 8 bytes give a header length of ${headerLen}, beyond the file's ${buf.length} bytes)`);
  }
  if (headerLen > BigInt(MAX_HEADER)) fail(`header length ${headerLen} is larger than ${MAX_HEADER} bytes`);
  const hlen = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + hlen)));
  } catch (e) {
    fail(`not a safetensors file: the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + hlen;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('__metadata__ is not an object');
      for (const [k, mv] of Object.entries(value as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = mv as string;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null) fail(`tensor '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZES)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLen) {
      fail(`tensor '${name}' has data_offsets [${begin}, ${end}] outside the data (${dataLen} bytes)`);
    }
    let elements = 1;
    for (const d of shape as number[]) elements *= d;
    if (elements * DTYPE_SIZES[dtype as string] !== end - begin) {
      fail(`tensor '${name}' has shape [${(shape as number[]).join(', ')}] (${elements} x ${dtype}) but ${end - begin} bytes`);
    }
    entries.push({ name, dtype: dtype as string, shape: shape as number[], begin, end });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of sorted) {
    if (e.begin < pos) fail(`tensor '${e.name}' overlaps another tensor's data`);
    if (e.begin > pos) fail(`the data has a gap before tensor '${e.name}' (bytes ${pos} to ${e.begin})`);
    pos = e.end;
  }
  if (pos !== dataLen) fail(`the file has ${dataLen - pos} bytes after the last tensor`);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    if (e.dtype !== 'F32') fail(`tensor '${e.name}' has dtype ${e.dtype}; only F32 is supported`);
    // A copy into fresh (so 4-byte aligned) memory: the data may start at any offset of the file, and a Node
    // Buffer's slice would be a view, not a copy.
    const data = new Float32Array((e.end - e.begin) / 4);
    new Uint8Array(data.buffer).set(buf.subarray(dataStart + e.begin, dataStart + e.end));
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) fail(`tensor '${e.name}' holds ${data[i]} at index ${i}`);
    }
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Serialises F32 tensors (in the given order) and string metadata. */
export function serializeSafetensors(tensors: [string, Tensor][], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new RangeError(`tensor '${name}' has shape [${t.shape.join(', ')}] but ${t.data.length} elements`);
    }
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // tensor data starts 8-byte aligned
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const [, t] of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}
