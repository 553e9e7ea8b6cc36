/**
 * Sentence scoring: the log-probabilities add up to what the model's own loss says, independent sentences score as
 * each sentence alone, and `rnnlm score` prints one line per sentence, per-word probabilities that sum to it, OOV
 * counts and a summary.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LanguageModel, scoreSentences } from '../src';
import { PTB_DIR, ROOT, backends, randomIds } from './helpers';

describe.each(backends().map((b) => [b.name, b] as const))('scoreSentences on %s', (_n, backend) => {
  const V = 23, EOS = 0;
  const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: V, wordvecSize: 8, hiddenSize: 8, dropout: 0.3 }, { backend, seed: 4 });
  for (const w of [model.param('embed.W')]) for (let i = 0; i < w.length; i++) w[i] *= 50;
  const sentences = [5, 1, 9, 3, 7].map((n, k) => randomIds(n, V - 1, 10 + k).map((x) => x + 1));

  it('carrying the state, the log-probabilities add up to the loss of the whole stream', () => {
    const lp = scoreSentences(model, sentences, EOS);
    expect(lp.map((x) => x.length)).toEqual(sentences.map((s) => s.length + 1));
    const stream = [EOS, ...sentences.flatMap((s) => [...s, EOS])];
    const n = stream.length - 1;
    const ref = new LanguageModel(model.config, { backend }).eval();
    ref.setParams(model.flatParams);
    const loss = ref.forward(Int32Array.from(stream.slice(0, n)), Int32Array.from(stream.slice(1)), 1, n);
    const total = lp.reduce((a, x) => a + x.reduce((b, y) => b + y, 0), 0);
    expect(Math.abs(total + loss * n) / (loss * n)).toBeLessThan(1e-5);
    // Windows of any length give the same numbers.
    const short = scoreSentences(model, sentences, EOS, { timeSize: 3 });
    short.forEach((x, k) => x.forEach((v, i) => expect(v).toBeCloseTo(lp[k][i], 4)));
  });

  it('independent sentences score as each sentence alone, whatever the batch', () => {
    const ind = scoreSentences(model, sentences, EOS, { independent: true });
    sentences.forEach((s, k) => {
      const alone = scoreSentences(model, [s], EOS)[0];
      alone.forEach((v, i) => expect(ind[k][i]).toBeCloseTo(v, 4));
    });
    expect(() => scoreSentences(model, [Int32Array.from([V])], EOS)).toThrow(/outside the model's vocabulary of 23/);
  });
});

describe('rnnlm score', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-score-'));
  const W = path.join(tmp, 'lm.safetensors');
  const CLI = path.join(ROOT, 'dist', 'cli.js');
  const env = { ...process.env, PTB_DIR };
  const run = (args: string[], input?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, input });

  it('prints one line per sentence, per-word log-probabilities that add up, OOVs and a summary', () => {
    expect(run(['train', '--model', 'lstm', '--corpus-size', '20000', '--full-vocab', '--max-iters', '30', '--hidden-size', '32',
      '--wordvec-size', '32', '--lr', '1', '--max-grad', '0.25', '--save', W]).status).toBe(0);
    const text = fs.readFileSync(path.join(PTB_DIR, 'ptb.valid.txt'), 'utf8').split('\n').slice(0, 20).map((l) => l.trim());
    text[3] = `${text[3]} zzzqqq`; // a word outside the vocabulary
    const file = path.join(tmp, 'sentences.txt');
    fs.writeFileSync(file, text.join('\n') + '\n');
    const r = run(['score', W, file, '--words']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout.trim().split('\n');
    const rows = out.filter((l) => !l.startsWith('#'));
    expect(rows).toHaveLength(20);
    let total = 0;
    rows.forEach((row, k) => {
      const [log10, ln, words, oovs, ppl, sentence] = row.split('\t');
      expect(sentence).toBe(text[k].split(/\s+/).join(' '));
      expect(Number(words)).toBe(text[k].split(/\s+/).length);
      expect(Number(oovs)).toBe(k === 3 ? 1 : 0);
      expect(Number(log10)).toBeCloseTo(Number(ln) / Math.log(10), 3);
      expect(Number(ppl)).toBeCloseTo(Math.exp(-Number(ln) / (Number(words) + 1)), 0);
      // The word lines that follow the row add up to it.
      const at = out.indexOf(row);
      const wordLines = out.slice(at + 1, at + 2 + Number(words));
      expect(wordLines.at(-1)!.endsWith('\t<eos>')).toBe(true);
      const sum = wordLines.reduce((a, l) => a + Number(l.split('\t')[2]), 0);
      expect(Math.abs(sum - Number(ln))).toBeLessThan(1e-3 * wordLines.length);
      total += Number(ln);
    });
    const summary = /^# total: 20 sentences, (\d+) words, 1 OOVs, logprob10 (\S+), logprob (\S+), ppl (\S+) \(state carried between sentences\)$/m.exec(r.stdout);
    expect(summary).not.toBeNull();
    expect(Number(summary![3])).toBeCloseTo(total, 1);
    // Standard input, and independent sentences.
    const piped = run(['score', W, '--independent'], text.join('\n'));
    expect(piped.status).toBe(0);
    expect(piped.stdout).toMatch(/\(independent sentences\)/);
    expect(piped.stdout.split('\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(20);
  });
});
