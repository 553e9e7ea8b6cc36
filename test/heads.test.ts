/**
 * Every output head in the table through the user's path: train with a checkpoint, resume it to the end of an
 * uninterrupted run's epochs (the same log and weights), eval of the saved weights (the run's own validation
 * perplexity), score and generate. A head added to the table is covered here without a line of this file changing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HEADS, OUTPUT_TYPES, headKind } from '../src/heads';
import { readWeights } from '../src/weights';
import { expectClose, logRecords, rnnlm, writeZipf } from './helpers';


const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-heads-'));
const DS = path.join(tmp, 'ds');
const RUN = ['train', '--data', DS, '--batch-size', '4', '--time-size', '10', '--lr', '1', '--max-grad', '0.25',
  '--eval-interval', '20', '--valid', '--eval-batch-size', '10', '--eval-time-size', '35', '--workers', '1'];

beforeAll(() => {
  writeZipf(path.join(tmp, 'train.txt'), 30000, 1, 300);
  writeZipf(path.join(tmp, 'valid.txt'), 5000, 2, 300);
  expect(rnnlm('prepare', path.join(tmp, 'train.txt'), '--valid', path.join(tmp, 'valid.txt'), '-o', DS).code).toBe(0);
});

describe.each(OUTPUT_TYPES.map((t) => [t]))('the %s head through train, resume, eval, score and generate', (output) => {
  const args = [...RUN, '--output', output, ...(output === 'sampled' ? ['--noise-samples', '50'] : [])];
  const file = (name: string): string => path.join(tmp, `${output}-${name}`);

  it('resumes a checkpoint as if never stopped, and the other commands read its weights', () => {
    const whole = rnnlm(...args, '--max-epoch', '2', '--log', file('whole.jsonl'), '--save', file('whole.safetensors'));
    expect(whole.err).toBe('');
    expect(whole.code).toBe(0);
    expect(rnnlm(...args, '--max-epoch', '1', '--checkpoint', file('run.ckpt'), '--log', file('part.jsonl'), '--save', file('part.safetensors')).code).toBe(0);
    const resumed = rnnlm(...args, '--max-epoch', '2', '--resume', file('run.ckpt'), '--log', file('part.jsonl'), '--save', file('part.safetensors'));
    expect(resumed.err).toBe('');
    const a = logRecords(file('whole.jsonl')), b = logRecords(file('part.jsonl'));
    expect(b.map((r) => [r.type, r.epoch, r.iter])).toEqual(a.map((r) => [r.type, r.epoch, r.iter]));
    expectClose('perplexities', b.map((r) => r.ppl), a.map((r) => r.ppl), 1e-6);
    const wa = readWeights(file('whole.safetensors')), wb = readWeights(file('part.safetensors'));
    expect(wb.config).toEqual(wa.config);
    for (const [name, t] of wa.tensors) expectClose(name, wb.tensors.get(name)!.data, t.data, 1e-6);

    const valid = a.filter((r) => r.type === 'epoch').at(-1)!.val_ppl!;
    const ev = rnnlm('eval', file('whole.safetensors'), '--data', DS, '--split', 'valid', '--batch-size', '10', '--time-size', '35');
    expect(ev.out).toContain(`perplexity ${valid.toFixed(2)}`);

    const [first, second] = fs.readFileSync(path.join(tmp, 'valid.txt'), 'utf8').split('\n');
    fs.writeFileSync(file('two.txt'), `${first}\n${second}\n`);
    fs.writeFileSync(file('one.txt'), `${first}\n`);
    const two = rnnlm('score', file('whole.safetensors'), file('two.txt'), '--independent');
    const one = rnnlm('score', file('whole.safetensors'), file('one.txt'));
    expect(two.err).toBe('');
    const rows = (out: string): number[] => out.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => Number(l.split('\t')[1]));
    expect(rows(two.out)).toHaveLength(2);
    expect(rows(two.out).every((lp) => Number.isFinite(lp) && lp < 0)).toBe(true);
    expect(rows(two.out)[0]).toBe(rows(one.out)[0]);

    const gen = rnnlm('generate', file('whole.safetensors'), '--start', first.split(' ')[0], '--length', '12', '--seed', '3');
    expect(gen.err).toBe('');
    expect(gen.out.trim().split(/\s+/).length).toBeGreaterThanOrEqual(12);
  });
});

describe('the head table', () => {
  it('names each head once, and each head declares what every path reads', () => {
    for (const t of OUTPUT_TYPES) {
      const h = headKind(t);
      expect(h.name).toBe(t);
      expect(typeof h.onnx === 'function' || h.onnx.length > 0).toBe(true);
      expect(typeof h.pytorch === 'function' || h.pytorch.length > 0).toBe(true);
    }
    expect(Object.keys(HEADS)).toEqual(OUTPUT_TYPES);
    expect(() => headKind('softmax')).toThrow("Unknown output layer 'softmax': expected one of full, class, sampled, tree");
  });
});
