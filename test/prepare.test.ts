/**
 * `rnnlm prepare` and prepared datasets: counts and ids against an independent count of a generated Zipf text (native
 * on two threads, across chunk boundaries, and js, byte for byte the same), the tokenisation of odd text (BOM, CRLF,
 * tabs, U+3000, multi-byte words, gzip, standard input, several files, folders), vocabulary limits, numbering with a
 * given vocabulary, and every kind of bad input refused with one line.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { chooseVocabulary, prepareDataset } from '../src/data/prepare';
import { HEADER_BYTES, IdsChecksum, openDataset, readVocabulary, TokenFile } from '../src/data/dataset';
import { readAll } from '../src/data/tokens';
import { backends, ROOT, rnnlm } from './helpers';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { zipfText } = require('../bench/zipf.js') as {
  zipfText(o: { bytes: number; vocab?: number; seed?: number; write: (b: Buffer) => void }): { counts: Float64Array; lines: number; bytes: number };
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-prepare-'));
const CLI = path.join(ROOT, 'dist', 'cli.js');

/** The words of a dataset split, in order. */
function splitWords(dir: string, split: 'train' | 'valid' | 'test'): string[] {
  const ds = openDataset(dir);
  return Array.from(readAll(ds.split(split)), (id) => ds.vocab.words[id]);
}

/** The book's tokenisation, written independently: white space splits words, every '\n' is an <eos>. */
function bookTokens(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    // eslint-disable-next-line no-control-regex
    for (const w of line.split(/[\t\n\v\f\r\x1c-\x1f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/)) if (w !== '') out.push(w);
    if (i < lines.length - 1 || line.trim() !== '') out.push('<eos>');
  });
  return out;
}

describe('rnnlm prepare on a generated Zipf text', () => {
  const text = path.join(tmp, 'zipf.txt');
  const chunks: Buffer[] = [];
  const truth = zipfText({ bytes: 3e6, vocab: 20000, seed: 7, write: (b: Buffer) => chunks.push(Buffer.from(b)) });
  fs.writeFileSync(text, Buffer.concat(chunks));
  const words = Buffer.concat(chunks).toString('latin1').split(/\s+/).filter(Boolean);

  it.each(backends().map((b) => [b.name, b] as const))('counts every word as an independent count does (%s)', async (_name, backend) => {
    const out = path.join(tmp, `zipf-${backend.name}`);
    // 128 KiB chunks: dozens of chunk boundaries, each chunk split between two threads natively.
    const r = await prepareDataset({ train: [text], out, backend, chunkBytes: 1 << 17 });
    const vocab = readVocabulary(path.join(out, 'vocab.txt'));
    const count = new Map(vocab.words.map((w, i) => [w, vocab.counts[i]]));
    expect(count.get('<eos>')).toBe(truth.lines);
    expect(count.get('<unk>')).toBe(0);
    let seen = 0;
    truth.counts.forEach((c: number, k: number) => {
      if (c > 0) {
        expect(count.get(`w${k}`)).toBe(c);
        seen++;
      }
    });
    expect(vocab.words.length).toBe(seen + 2);
    expect(r.splits.train!.tokens).toBe(words.length + truth.lines);
    // Ids by count, most frequent first; ties by the words.
    for (let i = 1; i < vocab.words.length; i++) {
      const before = vocab.counts[i - 1] > vocab.counts[i] || (vocab.counts[i - 1] === vocab.counts[i] && vocab.words[i - 1] < vocab.words[i]);
      if (!before) throw new Error(`vocab.txt lines ${i} and ${i + 1} out of order`);
    }
    // The ids spell the text.
    expect(splitWords(out, 'train')).toEqual(bookTokens(fs.readFileSync(text, 'latin1')));
  });

  it('writes the same files natively and in js, byte for byte', () => {
    if (backends().length < 2) return;
    for (const f of ['vocab.txt', 'train.tok', 'dataset.json']) {
      expect(fs.readFileSync(path.join(tmp, 'zipf-native', f)).equals(fs.readFileSync(path.join(tmp, 'zipf-js', f)))).toBe(true);
    }
  });

  it('keeps the most frequent entries with --vocab-size and drops rare words with --min-count', async () => {
    const backend = backends()[backends().length - 1];
    const full = readVocabulary(path.join(tmp, `zipf-${backend.name}`, 'vocab.txt'));
    const a = path.join(tmp, 'v100');
    const r = await prepareDataset({ train: [text], out: a, backend, vocabSize: 100 });
    const v = readVocabulary(path.join(a, 'vocab.txt'));
    expect(v.words.length).toBe(100);
    const kept = full.words.filter((w) => w !== '<unk>' && w !== '<eos>').slice(0, 98);
    expect(new Set(v.words)).toEqual(new Set([...kept, '<eos>', '<unk>']));
    const dropped = full.words.reduce((s, w, i) => s + (kept.includes(w) || w === '<eos>' ? 0 : full.counts[i]), 0);
    expect(v.counts[v.words.indexOf('<unk>')]).toBe(dropped);
    expect(r.splits.train!.unknown).toBe(dropped);
    const ids = splitWords(a, 'train');
    const expected = bookTokens(fs.readFileSync(text, 'latin1')).map((w) => (v.words.includes(w) ? w : '<unk>'));
    expect(ids).toEqual(expected);

    const b = path.join(tmp, 'min5');
    await prepareDataset({ train: [text], out: b, backend, minCount: 5 });
    const m = readVocabulary(path.join(b, 'vocab.txt'));
    expect(m.words.filter((w) => w !== '<unk>' && w !== '<eos>').sort()).toEqual(full.words.filter((w, i) => w !== '<unk>' && w !== '<eos>' && full.counts[i] >= 5).sort());
  });

  it('numbers a second text with a first one\'s vocabulary (--vocab)', async () => {
    const backend = backends()[backends().length - 1];
    const other = path.join(tmp, 'other.txt');
    fs.writeFileSync(other, 'w0 w1 never-seen w2\nw0\n');
    const out = path.join(tmp, 'numbered');
    await prepareDataset({ train: [other], out, backend, vocab: path.join(tmp, 'v100', 'vocab.txt') });
    const v = readVocabulary(path.join(out, 'vocab.txt'));
    expect(v.words).toEqual(readVocabulary(path.join(tmp, 'v100', 'vocab.txt')).words);
    expect(v.counts[v.words.indexOf('w0')]).toBe(2);
    expect(v.counts[v.words.indexOf('<unk>')]).toBe(1);
    expect(splitWords(out, 'train')).toEqual(['w0', 'w1', '<unk>', 'w2', '<eos>', 'w0', '<eos>']);
  });
});

describe('rnnlm prepare reads text as the book tokenises it', () => {
  const odd = '\ufeffthe cat\u3000sat\r\non  the\tmat\n\nnaïve café 日本語 \u00a0end\u2003x\nno line end';
  const a = path.join(tmp, 'odd.txt'), gz = path.join(tmp, 'more.txt.gz'), folder = path.join(tmp, 'folder');
  fs.writeFileSync(a, odd);
  fs.writeFileSync(gz, zlib.gzipSync('gzipped words\r\n'));
  fs.mkdirSync(folder);
  fs.writeFileSync(path.join(folder, 'b.txt'), 'second file\n');
  fs.writeFileSync(path.join(folder, 'a.txt'), 'first file');
  fs.writeFileSync(path.join(folder, '.hidden'), 'not read\n');
  const expected = [
    'the', 'cat', 'sat', '<eos>', 'on', 'the', 'mat', '<eos>', '<eos>', 'naïve', 'café', '日本語', 'end', 'x', '<eos>', 'no', 'line', 'end', '<eos>',
    'gzipped', 'words', '<eos>', 'first', 'file', '<eos>', 'second', 'file', '<eos>',
  ];

  it.each(backends().map((b) => [b.name, b] as const))('BOM, CRLF, tabs, U+3000, multi-byte words, gzip, folders (%s)', async (_name, backend) => {
    const out = path.join(tmp, `odd-${backend.name}`);
    await prepareDataset({ train: [a, gz, folder], out, backend, chunkBytes: 16 });
    expect(splitWords(out, 'train')).toEqual(expected);
    const v = readVocabulary(path.join(out, 'vocab.txt'));
    expect(v.words.slice(0, 4)).toEqual(['<eos>', 'end', 'file', 'the']);
    expect(v.counts[0]).toBe(8);
  });

  it.each(backends().map((b) => [b.name, b] as const))('counts words of 1 to 40 bytes wherever a chunk cuts them (%s)', async (_name, backend) => {
    // Each word at many offsets from a chunk's end, so that every way of reading a word meets every word.
    const words = Array.from({ length: 40 }, (_, k) => String.fromCharCode(97 + (k % 26)).repeat(k + 1) + (k % 3 === 0 ? 'é' : ''));
    const lines: string[] = [];
    const truth = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const line = Array.from({ length: 1 + (i % 7) }, (_, j) => words[(i * 7 + j * 13) % words.length]);
      line.forEach((w) => truth.set(w, (truth.get(w) ?? 0) + 1));
      lines.push(line.join(i % 2 ? ' ' : '  '));
    }
    const file = path.join(tmp, `lengths-${backend.name}.txt`), out = path.join(tmp, `lengths-${backend.name}`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    await prepareDataset({ train: [file], out, backend, chunkBytes: 97 });
    const v = readVocabulary(path.join(out, 'vocab.txt'));
    expect(new Map(v.words.map((w, i) => [w, v.counts[i]]))).toEqual(new Map([...truth, ['<eos>', 600], ['<unk>', 0]]));
  });

  it('reads standard input, gzipped or not, from the command line; --valid and --test share the training vocabulary', () => {
    const out = path.join(tmp, 'stdin');
    const plain = spawnSync(process.execPath, [CLI, 'prepare', '-', '--valid', a, '--test', gz, '-o', out], { input: 'the cat\nunseen words\n', encoding: 'utf8' });
    expect(plain.stderr).toBe('');
    expect(plain.status).toBe(0);
    expect(plain.stdout).toMatch(/^rnnlm: prepared .*: vocabulary 6 words; train 6 tokens \(0 <unk>\), valid 19 tokens \(11 <unk>\), test 3 tokens \(1 <unk>\);/);
    expect(splitWords(out, 'valid').slice(0, 4)).toEqual(['the', 'cat', '<unk>', '<eos>']);
    const zipped = spawnSync(process.execPath, [CLI, 'prepare', '-', '-o', path.join(tmp, 'stdin-gz')], { input: zlib.gzipSync('the cat\n') });
    expect(zipped.status).toBe(0);
    expect(splitWords(path.join(tmp, 'stdin-gz'), 'train')).toEqual(['the', 'cat', '<eos>']);
  });
});

describe('renumberFile', () => {
  // 2.5M ids: three blocks of the native renumbering, the last one short, over two threads.
  const tokens = 2_500_000, offset = 64;
  const table = Int32Array.from({ length: 5000 }, (_, i) => (i * 7919) % 5000);
  const ids = Int32Array.from({ length: tokens }, (_, i) => ((i * 2654435761) >>> 7) % 5000);
  const fileWith = (name: string, values: Int32Array): number => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(offset, 0xee), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]));
    return fs.openSync(file, 'r+');
  };

  it.each(backends().map((b) => [b.name, b] as const))('renumbers in place and sums the checksum as IdsChecksum does (%s)', (_name, backend) => {
    const fd = fileWith(`renumber-${backend.name}`, ids);
    const lanes = backend.renumberFile(fd, offset, tokens, table);
    fs.closeSync(fd);
    const bytes = fs.readFileSync(path.join(tmp, `renumber-${backend.name}`));
    const expected = Int32Array.from(ids, (id) => table[id]);
    expect(bytes.subarray(0, offset).equals(Buffer.alloc(offset, 0xee))).toBe(true);
    expect(Buffer.from(bytes.subarray(offset)).equals(Buffer.from(expected.buffer))).toBe(true);
    const sum = new IdsChecksum();
    sum.add(expected);
    expect(IdsChecksum.hex(lanes, tokens)).toBe(sum.hex());
  });

  it.each(backends().map((b) => [b.name, b] as const))('names the first id outside the table (%s)', (_name, backend) => {
    const bad = ids.slice();
    bad[2_300_000] = 5000;
    bad[1_500_000] = -1;
    const fd = fileWith(`renumber-bad-${backend.name}`, bad);
    try {
      expect(() => backend.renumberFile(fd, offset, tokens, table)).toThrow('token 1500000 has provisional id outside the table');
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('chooseVocabulary', () => {
  it('orders by count then by word, merges a literal <unk> with the replaced words, and keeps <eos> and <unk>', () => {
    // Room for two words besides <eos> and <unk>: d, then a before b (equal counts); b and c become <unk>.
    const v = chooseVocabulary(['b', 'a', '<unk>', 'c', '<eos>', 'd'], Float64Array.from([5, 5, 2, 1, 3, 9]), 4);
    expect(v.words).toEqual(['d', '<unk>', 'a', '<eos>']);
    expect(Array.from(v.counts)).toEqual([9, 8, 5, 3]);
    expect(Array.from(v.idOf)).toEqual([-1, 2, 1, -1, 3, 0]);
    const all = chooseVocabulary(['b', 'a', '<eos>'], Float64Array.from([1, 1, 0]));
    expect(all.words).toEqual(['a', 'b', '<eos>', '<unk>']);
    expect(() => chooseVocabulary(['a'], Float64Array.from([1]), 1)).toThrow(/at least 2/);
  });
});

describe('bad input gets one line and a non-zero exit', () => {
  const good = path.join(tmp, 'good.txt');
  fs.writeFileSync(good, 'a b c\nd e f\n');
  // One line (a usage error adds commander's pointer to --help).
  const oneLine = (r: { code: number | null; err: string }, code: number, pattern: RegExp): void => {
    expect(r.code).toBe(code);
    expect(r.err.trim().split('\n').filter((l) => l !== '(run with --help for usage)')).toHaveLength(1);
    expect(r.err).toMatch(pattern);
    expect(r.err).not.toMatch(/\n\s+at /);
  };

  it('refuses empty and white-space texts, missing files, bad sizes and an output that is a file', () => {
    const empty = path.join(tmp, 'empty.txt'), blank = path.join(tmp, 'blank.txt');
    fs.writeFileSync(empty, '');
    fs.writeFileSync(blank, ' \n\t\r\n\u3000\n');
    oneLine(rnnlm('prepare', empty, '-o', path.join(tmp, 'e')), 1, /empty.txt holds no words/);
    oneLine(rnnlm('prepare', blank, '-o', path.join(tmp, 'e')), 1, /blank.txt holds no words/);
    oneLine(rnnlm('prepare', path.join(tmp, 'missing.txt'), '-o', path.join(tmp, 'e')), 1, /cannot read .*missing.txt: no such file/);
    oneLine(rnnlm('prepare', good, '--vocab-size', '0', '-o', path.join(tmp, 'e')), 2, /--vocab-size.*positive integer/);
    oneLine(rnnlm('prepare', good, '--vocab-size', '1', '-o', path.join(tmp, 'e')), 1, /--vocab-size must be a whole number of at least 2/);
    oneLine(rnnlm('prepare', good, '--vocab-size', 'x', '-o', path.join(tmp, 'e')), 2, /--vocab-size.*positive integer/);
    oneLine(rnnlm('prepare', good, '-o', good), 1, /good.txt is a file, not a folder/);
    oneLine(rnnlm('prepare', good), 2, /required option '-o, --out <dir>'/);
  });

  it('refuses text that is not UTF-8, and reads or refuses random bytes without a crash', () => {
    const latin1 = path.join(tmp, 'latin1.txt');
    fs.writeFileSync(latin1, Buffer.from('caf\xe9 au lait\n', 'latin1'));
    oneLine(rnnlm('prepare', latin1, '-o', path.join(tmp, 'l1')), 1, /latin1.txt: the text is not UTF-8 \(byte 0\)/);
    let seed = 12345;
    for (let k = 0; k < 4; k++) {
      const bytes = Buffer.alloc(200000);
      for (let i = 0; i < bytes.length; i++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        bytes[i] = k % 2 === 0 ? seed >>> 24 : 0x20 + ((seed >>> 24) % 0x5f); // raw bytes, then printable ASCII
      }
      const f = path.join(tmp, `random${k}.bin`);
      fs.writeFileSync(f, bytes);
      const r = rnnlm('prepare', f, '-o', path.join(tmp, `random${k}`));
      if (r.code === 0) expect(openDataset(path.join(tmp, `random${k}`)).split('train').length).toBeGreaterThan(0);
      else oneLine(r, 1, /not UTF-8|holds no words/);
    }
  });

  it('refuses a vocabulary with a repeated word, and datasets that are cut short, damaged or mismatched', () => {
    const dup = path.join(tmp, 'dup-vocab.txt');
    fs.writeFileSync(dup, 'a\t3\n<unk>\t0\na\t1\n');
    oneLine(rnnlm('prepare', good, '--vocab', dup, '-o', path.join(tmp, 'd')), 1, /dup-vocab.txt, line 3: 'a' is already the word of line 1/);
    const base = path.join(tmp, 'base');
    expect(rnnlm('prepare', good, '--valid', good, '-o', base).code).toBe(0);
    const copy = (name: string): string => {
      const d = path.join(tmp, name);
      fs.cpSync(base, d, { recursive: true });
      return d;
    };
    const train = (d: string): ReturnType<typeof rnnlm> => rnnlm('train', '--data', d, '--batch-size', '1', '--time-size', '2', '--max-epoch', '1');
    expect(train(base).code).toBe(0);
    // Truncated.
    const cut = copy('cut');
    fs.truncateSync(path.join(cut, 'train.tok'), fs.statSync(path.join(cut, 'train.tok')).size - 4);
    oneLine(train(cut), 1, /train.tok is truncated: 92 bytes where its header says 8 tokens \(96 bytes\)/);
    // An id beyond the vocabulary.
    const beyond = copy('beyond');
    const fd = fs.openSync(path.join(beyond, 'train.tok'), 'r+');
    fs.writeSync(fd, Buffer.from(Int32Array.from([999]).buffer), 0, 4, HEADER_BYTES + 8);
    fs.closeSync(fd);
    oneLine(train(beyond), 1, /train.tok: token 2 has id 999, outside the vocabulary of 8 words/);
    // An id changed within the vocabulary: the checksum.
    const changed = copy('changed');
    const fd2 = fs.openSync(path.join(changed, 'train.tok'), 'r+');
    fs.writeSync(fd2, Buffer.from(Int32Array.from([1]).buffer), 0, 4, HEADER_BYTES + 8);
    fs.closeSync(fd2);
    oneLine(train(changed), 1, /train.tok is corrupt: its ids do not match the checksum in its header/);
    // A vocabulary of another size, or with a repeated word.
    const shorter = copy('shorter');
    const lines = fs.readFileSync(path.join(shorter, 'vocab.txt'), 'utf8').split('\n');
    fs.writeFileSync(path.join(shorter, 'vocab.txt'), lines.slice(0, 5).join('\n') + '\n');
    oneLine(train(shorter), 1, /vocab.txt has 5 words, but the dataset's token files number 8/);
    const repeated = copy('repeated');
    fs.writeFileSync(path.join(repeated, 'vocab.txt'), [lines[0], lines[0], ...lines.slice(2)].join('\n'));
    oneLine(train(repeated), 1, /vocab.txt, line 2: '.*' is already the word of line 1/);
    // A prepare that did not finish: no manifest.
    const killed = copy('killed');
    fs.rmSync(path.join(killed, 'dataset.json'));
    oneLine(train(killed), 1, /killed is not a prepared dataset \(no dataset.json/);
    oneLine(train(path.join(tmp, 'nowhere')), 1, /nowhere does not exist/);
    // Too short for one batch; a header that is not a token file.
    oneLine(rnnlm('train', '--data', base, '--batch-size', '5', '--time-size', '5'), 2, /exceeds the 7 training positions of 8 tokens/);
    const garbage = copy('garbage');
    fs.writeFileSync(path.join(garbage, 'train.tok'), 'not a token file at all, just text');
    oneLine(train(garbage), 1, /train.tok is not an rnnlm token file/);
  });

  it('leaves no dataset behind when it fails, and a folder that held one refuses --data until a prepare finishes', () => {
    const out = path.join(tmp, 'replaced');
    expect(rnnlm('prepare', good, '-o', out).code).toBe(0);
    const latin1 = path.join(tmp, 'latin1.txt');
    expect(rnnlm('prepare', good, latin1, '-o', out).code).toBe(1);
    expect(fs.existsSync(path.join(out, 'dataset.json'))).toBe(false);
    expect(fs.readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(() => TokenFile.open(path.join(out, 'nothing.tok'), 1, '')).toThrow(/cannot read/);
  });
});
