/**
 * Training from a prepared dataset: batches read from the token file equal those cut from the same ids in memory
 * (across epochs and the wrap at the corpus end), so training and evaluation give bit-identical numbers; a resumed
 * run equals an uninterrupted one; no read during training brings more than a window of a row into memory; and the
 * CLI's train --data / eval --data agree with each other.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchCutter, evalPerplexity, LanguageModel, RnnlmTrainer, SGD, TrainingInterruptedError } from '../src';
import { openDataset, TokenFile } from '../src/data/dataset';
import { prepareDataset } from '../src/data/prepare';
import { readAll, sliceSource } from '../src/data/tokens';
import { backends, rnnlm, writeZipf } from './helpers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-dataset-'));
const DIR = path.join(tmp, 'ds');

beforeAll(async () => {
  writeZipf(path.join(tmp, 'train.txt'), 120000, 1);
  writeZipf(path.join(tmp, 'valid.txt'), 15000, 2);
  writeZipf(path.join(tmp, 'test.txt'), 15000, 3);
  await prepareDataset({
    train: [path.join(tmp, 'train.txt')], valid: [path.join(tmp, 'valid.txt')], test: [path.join(tmp, 'test.txt')],
    out: DIR, vocabSize: 300, backend: backends()[backends().length - 1],
  });
});

describe('a dataset on disk trains as the same ids in memory do', () => {
  it('cuts the same batches, through several epochs and the wrap at the end', () => {
    const file = openDataset(DIR).split('train');
    const ids = readAll(file);
    const n = ids.length - 1;
    const onDisk = new BatchCutter(sliceSource(file, 0, n), sliceSource(file, 1, n), 7, 13);
    const inMemory = new BatchCutter(ids.subarray(0, n), ids.subarray(1), 7, 13);
    const iters = Math.ceil((3 * n) / (7 * 13));
    for (let i = 0; i < iters; i++) {
      onDisk.next();
      inMemory.next();
      if (!onDisk.xs.every((x, k) => x === inMemory.xs[k]) || !onDisk.ts.every((t, k) => t === inMemory.ts[k])) {
        throw new Error(`batch ${i} differs`);
      }
    }
  });

  it.each(backends().map((b) => [b.name, b] as const))('trains, resumes and evaluates to the same bits (%s)', async (_name, backend) => {
    const ds = openDataset(DIR);
    const train = ds.split('train'), valid = ds.split('valid');
    const V = ds.vocab.words.length, n = train.length - 1;
    const make = (): LanguageModel => new LanguageModel({ cell: 'lstm', vocabSize: V, wordvecSize: 16, hiddenSize: 16, dropout: 0.2 }, { backend, seed: 3 });
    const fit = { maxEpoch: 2, batchSize: 4, timeSize: 10, maxGrad: 0.25, workers: 1 } as const;
    const ids = readAll(train);

    const reference = make();
    const refReports = await new RnnlmTrainer(reference, new SGD(1)).fit(ids.subarray(0, n), ids.subarray(1), fit);

    // Every read of the training file during fit is at most one window of one row.
    const reads: number[] = [];
    const read = TokenFile.prototype.read;
    const spy = jest.spyOn(TokenFile.prototype, 'read').mockImplementation(function (this: TokenFile, start: number, out: Int32Array) {
      reads.push(out.length);
      read.call(this, start, out);
    });
    const model = make();
    let reports;
    try {
      reports = await new RnnlmTrainer(model, new SGD(1)).fit(sliceSource(train, 0, n), sliceSource(train, 1, n), fit);
    } finally {
      spy.mockRestore();
    }
    expect(reports.map((r) => r.ppl)).toEqual(refReports.map((r) => r.ppl));
    expect(model.flatParams).toEqual(reference.flatParams);
    expect(reads.length).toBeGreaterThan(0);
    expect(Math.max(...reads)).toBeLessThanOrEqual(4096);

    // Stopped mid-epoch and resumed from its state: the same weights as the run that never stopped.
    const first = make();
    const stop = { aborted: false };
    const t1 = new RnnlmTrainer(first, new SGD(1));
    const err = await t1.fit(sliceSource(train, 0, n), sliceSource(train, 1, n), {
      ...fit, signal: stop, onStep: (p) => { if (p.epoch === 1 && p.iter === 20) stop.aborted = true; },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingInterruptedError);
    const second = make();
    second.setParams(first.flatParams);
    second.setState(first.getState()!);
    await new RnnlmTrainer(second, new SGD(1)).fit(sliceSource(train, 0, n), sliceSource(train, 1, n), { ...fit, resume: (err as TrainingInterruptedError).state });
    expect(second.flatParams).toEqual(reference.flatParams);

    expect(evalPerplexity(model, valid, 3, 9)).toBe(evalPerplexity(reference, readAll(valid), 3, 9));

    // With two workers, the file's batches train as the array's do.
    const parallel = { ...fit, maxEpoch: 1, workers: 2 };
    const onArrays = make(), onFile = make();
    await new RnnlmTrainer(onArrays, new SGD(1)).fit(ids.subarray(0, n), ids.subarray(1), parallel);
    await new RnnlmTrainer(onFile, new SGD(1)).fit(sliceSource(train, 0, n), sliceSource(train, 1, n), parallel);
    expect(onFile.flatParams).toEqual(onArrays.flatParams);
  });
});

describe('rnnlm train --data and rnnlm eval --data', () => {
  it('train reports the test perplexity that eval then reproduces from the saved weights', () => {
    const save = path.join(tmp, 'w.safetensors');
    const r = rnnlm('train', '--data', DIR, '--model', 'lstm', '--hidden-size', '24', '--wordvec-size', '24', '--batch-size', '8', '--time-size', '10',
      '--lr', '2', '--max-grad', '0.25', '--max-epoch', '2', '--valid', '--test', '--output', 'class', '--save', save);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^rnnlm: corpus .*ds, \d+ tokens, vocabulary 300, .*17 word classes/m);
    expect(r.out).toMatch(/^\| epoch 2 \| perplexity [\d.]+ \| valid perplexity [\d.]+ \|/m);
    const test = Number(/test perplexity ([\d.]+) \(.*ds test split, \d+ tokens\)/.exec(r.out)![1]);
    expect(test).toBeGreaterThan(1);
    expect(test).toBeLessThan(300);
    const e = rnnlm('eval', save, '--data', DIR, '--split', 'test');
    expect(e.err).toBe('');
    expect(Number(/perplexity ([\d.]+)/.exec(e.out)![1])).toBe(test);
    // score --data reads the split's sentences as score reads them from the text they came from (words outside
    // the vocabulary there are <unk> here: both score them as <unk>).
    const fromData = rnnlm('score', save, '--data', DIR, '--split', 'test');
    const fromText = rnnlm('score', save, path.join(tmp, 'test.txt'));
    expect(fromData.err).toBe('');
    const rows = (out: string): string[] => out.trim().split('\n').map((l) => l.split('\t').slice(0, 3).join('\t'));
    expect(rows(fromData.out).slice(1, -1)).toEqual(rows(fromText.out).slice(1, -1));
    expect(fromData.out.trim().split('\n').pop()).toMatch(/^# total: \d+ sentences, .* ppl [\d.]+ \(state carried between sentences\)$/);
  });

  it('refuses --data beside the flags of other data, and --test without a test split', () => {
    const r = rnnlm('train', '--data', DIR, '--text', path.join(tmp, 'train.txt'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--text does not go with --data/);
    const noTest = path.join(tmp, 'no-test');
    expect(rnnlm('prepare', path.join(tmp, 'train.txt'), '-o', noTest).code).toBe(0);
    const t = rnnlm('train', '--data', noTest, '--test', '--batch-size', '2', '--time-size', '5', '--max-epoch', '1');
    expect(t.code).toBe(2);
    expect(t.err).toMatch(/--test: .*no-test has no test split/);
  });
});
