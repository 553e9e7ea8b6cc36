import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  parseSafetensors, serializeSafetensors, parseWeights, readWeights, saveWeights, SimpleRnnlm, loadWeightsInto,
  modelFromWeights, WeightsFormatError,
} from '../src';
import { FIXTURES } from './helpers';

/** A file built by hand: header JSON + data bytes. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors', () => {
  it('reads the seed-config fixture: six F32 tensors with the book shapes', () => {
    const w = readWeights(path.join(FIXTURES, 'seed-config-init.safetensors'));
    expect([w.vocabSize, w.wordvecSize, w.hiddenSize]).toEqual([418, 100, 100]);
    expect(w.tensors.get('affine.W')!.shape).toEqual([100, 418]);
    expect(w.tensors.get('rnn.0.b')!.data.every((x) => x === 0)).toBe(true);
  });

  it('round-trips a model with its vocabulary, byte for byte, through an atomic write', () => {
    const model = new SimpleRnnlm(5, 3, 4, { seed: 7, backend: 'js' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-st-'));
    const f = path.join(dir, 'w.safetensors');
    const vocab = ['a', 'b', '<eos>', 'ü', 'd"q'];
    saveWeights(f, model, vocab);
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']); // no temporary file left behind
    const w = readWeights(f);
    expect(w.vocab).toEqual(vocab);
    const copy = modelFromWeights(w, { backend: 'js' });
    expect(Array.from(copy.flatParams)).toEqual(Array.from(model.flatParams));
    const bytes = fs.readFileSync(f);
    expect((8 + Number(bytes.readBigUInt64LE(0))) % 8).toBe(0); // data starts aligned
  });

  it('serialises what it parses', () => {
    const t = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const back = parseSafetensors(serializeSafetensors([['x', t]], { k: 'v' }));
    expect(back.metadata).toEqual({ k: 'v' });
    expect(Array.from(back.tensors.get('x')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  const f32 = (n: number): Uint8Array => new Uint8Array(n * 4);
  const cases: [string, Uint8Array, RegExp][] = [
    ['a file shorter than 8 bytes', new Uint8Array(5), /too short/],
    ['a header length beyond the file', file({}, new Uint8Array(0), 1000n), /not a safetensors file \(its first 8 bytes give a header length of 1000, beyond the file's/],
    ['a header length of 2^64-1', file({}, new Uint8Array(0), 2n ** 64n - 1n), /not a safetensors file/],
    ['bad JSON', file('{"x": '), /not valid JSON/],
    ['a header that is not an object', file('[1,2]'), /not a JSON object/],
    ['an unknown dtype', file({ x: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, f32(1)), /unknown dtype "F33"/],
    ['an unsupported dtype', file({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, f32(2)), /only F32 is supported/],
    ['a negative dimension', file({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /invalid shape/],
    ['offsets beyond the data', file({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(2)), /outside the data/],
    ['reversed offsets', file({ x: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)), /outside the data/],
    ['a shape that does not match the bytes', file({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /shape \[3\].*but 8 bytes/],
    ['a huge shape', file({ x: { dtype: 'F32', shape: [1e9, 1e9], data_offsets: [0, 8] } }, f32(2)), /but 8 bytes/],
    ['overlapping tensors', file({
      x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, f32(3)), /overlaps/],
    ['a gap in the data', file({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)), /gap before tensor 'x'/],
    ['trailing bytes', file({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)), /4 bytes after the last tensor/],
    ['metadata that is not strings', file({ __metadata__: { a: 1 } }), /__metadata__.a is not a string/],
  ];
  it.each(cases)('refuses %s', (_label, bytes, message) => {
    expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(WeightsFormatError);
    expect(() => parseSafetensors(bytes, 'bad.safetensors')).toThrow(message);
  });

  it('refuses a file that misses a tensor or has inconsistent shapes', () => {
    const model = new SimpleRnnlm(5, 3, 4, { backend: 'js' });
    const tensors = model.specs.map((s, i): [string, { shape: number[]; data: Float32Array }] => [s.name, { shape: s.shape, data: model.params[i] }]);
    expect(() => parseWeights(serializeSafetensors(tensors.slice(0, 5)))).toThrow(/missing tensor 'affine.b'/);
    const bad = tensors.map(([n, t]): [string, typeof t] => (n === 'rnn.0.b' ? [n, { shape: [3], data: new Float32Array(3) }] : [n, t]));
    expect(() => parseWeights(serializeSafetensors(bad))).toThrow(/tensor 'rnn.0.b' has shape \[3\] but \[4\]/);
    expect(() => parseWeights(serializeSafetensors(tensors, { vocab: '["a"]' }))).toThrow(/vocab must be a list of 5 words/);
  });

  it('refuses weights of another size for a model', () => {
    const w = readWeights(path.join(FIXTURES, 'seed-config-init.safetensors'));
    const model = new SimpleRnnlm(418, 100, 50, { backend: 'js' });
    expect(() => loadWeightsInto(model, w, 'x.safetensors')).toThrow(/x.safetensors: tensor 'rnn.0.Wx' has shape \[100, 100\] but the model needs \[100, 50\]/);
  });

  it('names the file it cannot read', () => {
    expect(() => readWeights('/nonexistent/w.safetensors')).toThrow(/cannot read weights file \/nonexistent\/w.safetensors: no such file/);
  });

  it('reads a file whose data starts at an offset that is not a multiple of 4, from a Node Buffer on disk', () => {
    const data = new Float32Array([1.5, -2, 3.25]);
    const base = JSON.stringify({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } });
    const header = base + ' '.repeat(((8 + base.length) % 4 === 1) ? 0 : (5 - ((8 + base.length) % 4)) % 4); // data at 4k + 1
    expect((8 + Buffer.byteLength(header)) % 4).not.toBe(0);
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-st-')), 'odd.safetensors');
    fs.writeFileSync(f, file(header, new Uint8Array(data.buffer)));
    const t = parseSafetensors(fs.readFileSync(f), f).tensors.get('x')!;
    expect(Array.from(t.data)).toEqual([1.5, -2, 3.25]);
  });

  it('refuses tensors holding NaN or infinities, naming the tensor and the first bad index', () => {
    for (const [bad, word] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity']] as const) {
      const data = new Float32Array([0, 1, bad, 2]);
      const bytes = file({ 'lstm.0.b': { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(data.buffer));
      expect(() => parseSafetensors(bytes, 'w.safetensors')).toThrow(`w.safetensors: tensor 'lstm.0.b' holds ${word} at index 2`);
    }
  });
});
