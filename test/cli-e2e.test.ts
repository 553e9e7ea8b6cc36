/**
 * The real CLI end to end: train -> save -> eval -> generate on a small corpus of the user's own text; a run
 * interrupted with SIGINT mid-epoch and resumed reports what an uninterrupted run reports; corrupt checkpoints and
 * weights are refused and leave earlier files intact; the plot is valid SVG with one point per report.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { readWeights } from '../src';
import { PTB_DIR, ROOT, expectClose, logRecords, rnnlm } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-e2e-'));
const env = { ...process.env, PTB_DIR };

// A small corpus of the user's own: 3000 tokens of PTB, one sentence a line.
const lines = fs.readFileSync(path.join(PTB_DIR, 'ptb.train.txt'), 'utf8').split('\n');
const TEXT = path.join(tmp, 'corpus.txt'), VALID = path.join(tmp, 'valid.txt');
fs.writeFileSync(TEXT, lines.slice(0, 140).join('\n') + '\n');
fs.writeFileSync(VALID, lines.slice(140, 170).join('\n') + '\n');

describe('rnnlm end to end', () => {
  const W = path.join(tmp, 'model.safetensors'), LOG = path.join(tmp, 'run.jsonl'), SVG = path.join(tmp, 'ppl.svg');

  it('trains on a text file with validation, then evaluates, plots and generates from the saved model', () => {
    const best = path.join(tmp, 'best.safetensors');
    const r = rnnlm('train', '--text', TEXT, '--valid-text', VALID, '--valid', '--max-epoch', '4', '--batch-size', '10',
      '--time-size', '10', '--lr', '1', '--eval-interval', '10', '--save', W, '--save-best', best, '--log', LOG, '--plot', SVG);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\| epoch 1 \| iter 1 \/ \d+ \| time \d+s \| perplexity [\d.]+ \| lr 1 \| [\d.]+ ms\/iter \| \d+ tokens\/s \|$/m);
    expect(r.out).toMatch(/^\| epoch 4 \| perplexity [\d.]+ \| valid perplexity [\d.]+ \|/m);
    const w = readWeights(W);
    const words = new Set(fs.readFileSync(TEXT, 'utf8').split(/\s+/).filter(Boolean));
    expect(w.vocab!.length).toBe(new Set([...words, '<eos>', '<unk>']).size);
    expect(readWeights(best).vocab).toEqual(w.vocab);

    const recs = logRecords(LOG);
    const epochs = recs.filter((x) => x.type === 'epoch');
    expect(epochs.map((x) => x.epoch)).toEqual([1, 2, 3, 4]);
    expect(epochs.every((x) => typeof x.val_ppl === 'number' && x.val_ppl > 1)).toBe(true);

    // The plot: valid SVG, one point per report (training) and per validation.
    const svg = fs.readFileSync(SVG, 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    expect((svg.match(/<circle class="train"/g) ?? []).length).toBe(recs.filter((x) => x.type === 'iter').length);
    expect((svg.match(/<circle class="valid"/g) ?? []).length).toBe(4);
    expect(svg).toMatch(/>epoch<\/text>/);
    expect(svg).toMatch(/>validation<\/text>/);
    const again = path.join(tmp, 'again.svg');
    expect(rnnlm('plot', LOG, '-o', again).code).toBe(0);
    expect(fs.readFileSync(again, 'utf8')).toBe(svg);

    // eval over the validation text reports the last epoch's validation perplexity (same windows as --valid).
    const e = rnnlm('eval', W, '--text', VALID);
    expect(e.code).toBe(0);
    const evalPpl = Number(/perplexity ([\d.]+)/.exec(e.out)![1]);
    expect(Math.abs(evalPpl - epochs[3].val_ppl!)).toBeLessThan(0.01);

    // generate: reproducible from its seed, never a skipped word, <eos> as line breaks.
    const g1 = rnnlm('generate', W, '--start', 'the company', '--length', '200', '--seed', '3', '--skip', '<unk>,N');
    const g2 = rnnlm('generate', W, '--start', 'the company', '--length', '200', '--seed', '3', '--skip', '<unk>,N');
    const g3 = rnnlm('generate', W, '--start', 'the company', '--length', '200', '--seed', '4', '--skip', '<unk>,N');
    expect(g1.code).toBe(0);
    expect(g1.out).toBe(g2.out);
    expect(g1.out).not.toBe(g3.out);
    expect(g1.out.startsWith('the company ')).toBe(true);
    const generated = g1.out.split(/\s+/).filter(Boolean);
    // Every one of the 200 generated tokens is a word or an <eos> line break (plus the start's 2 words and the
    // output's final newline); how many are <eos> depends on the (chaotically trained) model.
    const lineBreaks = (g1.out.match(/\n/g) ?? []).length;
    expect(generated.length + lineBreaks).toBe(2 + 200 + 1);
    expect(generated.length).toBeGreaterThan(lineBreaks);
    expect(generated).not.toContain('<unk>');
    expect(generated).not.toContain('N');
    expect(generated).not.toContain('<eos>');
    const top1 = rnnlm('generate', W, '--start', 'the', '--length', '30', '--top-k', '1', '--seed', '1');
    const top1b = rnnlm('generate', W, '--start', 'the', '--length', '30', '--top-k', '1', '--seed', '2');
    expect(top1.out).toBe(top1b.out); // top-k 1 is greedy: the seed does not matter
    expect(rnnlm('generate', W, '--start', 'zzzz').err).toMatch(/--start: 'zzzz' is not in the model's vocabulary/);
  });

  it('decodes greedily at temperature 0, suggests the spelling of a start word, and explains bad eval inputs', () => {
    const g0 = rnnlm('generate', W, '--start', 'the', '--length', '30', '--temperature', '0', '--seed', '1');
    expect(g0.code).toBe(0);
    expect(rnnlm('generate', W, '--start', 'the', '--length', '30', '--temperature', '0', '--seed', '9').out).toBe(g0.out);
    expect(rnnlm('generate', W, '--start', 'the', '--length', '30', '--top-k', '1').out).toBe(g0.out);
    const cap = rnnlm('generate', W, '--start', 'The');
    expect(cap.code).toBe(2);
    expect(cap.err.trim()).toMatch(/--start: 'The' is not in the model's vocabulary \(\d+ words\); did you mean 'the'\?$/);
    const empty = path.join(tmp, 'empty.txt'), short = path.join(tmp, 'short.txt');
    fs.writeFileSync(empty, '');
    fs.writeFileSync(short, 'the company said\n');
    expect(rnnlm('eval', W, '--text', empty).err.trim()).toBe(`rnnlm: ${empty} has no words to evaluate`);
    expect(rnnlm('eval', W, '--text', short).err.trim())
      .toBe(`rnnlm: ${short} has 4 words: evaluating it needs more than --batch-size x --time-size = 350 (lower them)`);
    expect(rnnlm('eval', path.join(tmp, 'nothing.safetensors')).err.trim()).toMatch(/cannot read weights file .*nothing\.safetensors: no such file$/);
    const notWeights = rnnlm('eval', TEXT);
    expect(notWeights.code).toBe(1);
    expect(notWeights.err.trim()).toMatch(/corpus\.txt: not a safetensors file/);
  });

  it('decays the learning rate without enough improvement, stops early and restores the best weights', () => {
    const best = path.join(tmp, 'es-best.safetensors'), last = path.join(tmp, 'es-last.safetensors');
    const r = rnnlm('train', '--text', TEXT, '--valid-text', VALID, '--valid', '--lr', '1', '--max-grad', '0.5', '--lr-decay', '4',
      '--min-improvement', '1.003', '--early-stop', '--save-best', best, '--save', last, '--max-epoch', '40', '--eval-interval', '1000');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const decay = /^\| epoch (\d+) \|.*\| lr 1 -> 0\.25 \|$/m.exec(r.out);
    const stop = /^\| epoch (\d+) \|.*\| stopping early \|$/m.exec(r.out);
    expect(decay).not.toBeNull();
    expect(stop).not.toBeNull();
    expect(Number(stop![1])).toBeGreaterThan(Number(decay![1]));
    expect(r.out).toMatch(new RegExp(`stopped early after epoch ${stop![1]}: validation did not improve after the learning rate was decayed`));
    expect(r.out).toMatch(/restored the best weights \(epoch \d+\)/);
    // What --save wrote is the best epoch's weights.
    expect(Array.from(readWeights(last).tensors.get('rnn.0.Wh')!.data)).toEqual(Array.from(readWeights(best).tensors.get('rnn.0.Wh')!.data));
    expect(rnnlm('train', '--early-stop', '--valid').err).toMatch(/--early-stop needs --save-best/);
  });

  it('validates and tests a PTB prefix with the whole vocabulary, and names that flag when it is missing', () => {
    const refused = rnnlm('train', '--corpus-size', '5000', '--valid');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/--valid: the first 5000 training tokens hold \d+ of the 10000 words that ptb\.valid\.txt uses; keep the whole split's vocabulary \(--full-vocab\)/);
    const r = rnnlm('train', '--corpus-size', '5000', '--full-vocab', '--valid', '--test', '--max-epoch', '1', '--batch-size', '20',
      '--time-size', '10', '--lr', '1', '--max-grad', '0.5');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/vocabulary 10000/);
    expect(r.out).toMatch(/^\| epoch 1 \| perplexity [\d.]+ \| valid perplexity [\d.]+ \|/m);
    expect(r.out).toMatch(/^rnnlm: test perplexity [\d.]+ \(ptb\.test\.txt, 82430 tokens\)$/m);
  });

  it('refuses to evaluate a split its vocabulary does not cover', () => {
    const small = path.join(tmp, 'small.safetensors');
    expect(rnnlm('train', '--max-epoch', '1', '--save', small).code).toBe(0);
    const r = rnnlm('eval', small, '--split', 'valid');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/the model's vocabulary \(418 words\) does not cover ptb.valid.txt/);
  });

  it('resumes a run interrupted mid-epoch with the same perplexities as an uninterrupted run', async () => {
    const args = ['train', '--backend', 'js', '--corpus-size', '6000', '--batch-size', '10', '--time-size', '5',
      '--max-epoch', '3', '--eval-interval', '7', '--workers', '1'];
    const full = path.join(tmp, 'full.jsonl');
    expect(rnnlm(...args, '--log', full).code).toBe(0);

    const log = path.join(tmp, 'stopped.jsonl'), ckpt = path.join(tmp, 'run.ckpt');
    const child = spawn(process.execPath, [CLI, ...args, '--log', log, '--checkpoint', ckpt], { env });
    let out = '', err = '';
    child.stderr.on('data', (d) => { err += d; });
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/\| epoch 2 \| iter 50 \//.test(out)) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    const m = /training interrupted at epoch 2, iteration (\d+); checkpoint saved to .*run\.ckpt \(continue with: rnnlm train --resume/.exec(err);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(50); // mid-epoch: some of epoch 2 was done
    expect(Number(m![1])).toBeLessThan(119);

    const r = rnnlm('train', '--resume', ckpt);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resuming .*run\.ckpt at epoch 2, iteration \d+/);
    const a = logRecords(full), b = logRecords(log);
    expect(b.map((x) => [x.type, x.epoch, x.iter])).toEqual(a.map((x) => [x.type, x.epoch, x.iter]));
    expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
  });

  it('resumes a 2-layer tied LSTM with dropout on 2 workers, interrupted mid-epoch, as if it never stopped', async () => {
    const args = ['train', '--model', 'lstm', '--num-layers', '2', '--tied', '--dropout', '0.3', '--wordvec-size', '16',
      '--hidden-size', '16', '--corpus-size', '20000', '--batch-size', '10', '--time-size', '10', '--lr', '2', '--max-grad', '1',
      '--max-epoch', '2', '--eval-interval', '20', '--workers', '2'];
    const full = path.join(tmp, 'lstm-full.jsonl'), fullW = path.join(tmp, 'lstm-full.safetensors');
    expect(rnnlm(...args, '--log', full, '--save', fullW).code).toBe(0);

    const log = path.join(tmp, 'lstm-stopped.jsonl'), ckpt = path.join(tmp, 'lstm.ckpt'), W2 = path.join(tmp, 'lstm.safetensors');
    const child = spawn(process.execPath, [CLI, ...args, '--log', log, '--checkpoint', ckpt, '--save', W2], { env });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/\| epoch 2 \| iter 41 \//.test(out)) resolve();
      });
    });
    child.kill('SIGINT');
    expect(await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))).toBe(130);
    const info = rnnlm('info', ckpt);
    expect(info.out).toMatch(/model: lstm, 2 layers, vocabulary \d+, wordvec 16, hidden 16, dropout 0.3, tied output weights/);
    expect(info.out).toMatch(/recurrent state: lstm.0.h, lstm.0.c, lstm.1.h, lstm.1.c/);
    const r = rnnlm('train', '--resume', ckpt);
    expect(r.code).toBe(0);
    const a = logRecords(full), b = logRecords(log);
    expect(b.map((x) => [x.type, x.epoch, x.iter])).toEqual(a.map((x) => [x.type, x.epoch, x.iter]));
    expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
    expectClose('weights', readWeights(W2).tensors.get('lstm.1.Wh')!.data, readWeights(fullW).tensors.get('lstm.1.Wh')!.data, 1e-5);
    // The saved file carries the architecture: eval and generate rebuild the model from it.
    expect(rnnlm('eval', W2, '--split', 'train').code).toBe(1); // trained on a prefix: refuses, naming why
    expect(rnnlm('generate', W2, '--length', '5').code).toBe(0);
  });

  it('resumes a run from --init weights whose vocabulary is larger than its corpus (a checkpoint without a vocabulary)', () => {
    const ckpt = path.join(tmp, 'novocab.ckpt');
    const init = path.join(ROOT, '..', 'shared', 'fixtures', 'seed-config-init.safetensors');
    expect(rnnlm('train', '--init', init, '--corpus-size', '500', '--max-epoch', '2', '--checkpoint', ckpt).code).toBe(0);
    const r = rnnlm('train', '--resume', ckpt, '--max-epoch', '3');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resuming .*novocab\.ckpt at epoch 3, iteration 1/);
  });

  it('applies a preset under explicit flags, and describes weights of the first format', () => {
    const r = rnnlm('train', '--preset', 'ch6', '--corpus-size', '3000', '--max-epoch', '1', '--no-valid', '--hidden-size', '20',
      '--wordvec-size', '20', '--eval-interval', '100');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/batch 20 x time 35, model lstm 20\/20, lr 20, 1 epochs/);
    const old = rnnlm('info', path.join(ROOT, '..', 'shared', 'fixtures', 'seed-config-init.safetensors'));
    expect(old.out).toMatch(/model: rnn, 1 layer, vocabulary 418, wordvec 100, hidden 100, dropout 0, untied output weights/);
    expect(old.out).toMatch(/rnn\.0\.Wx +\[100, 100\]/);
    expect(rnnlm('train', '--tied', '--hidden-size', '50').err).toMatch(/--tied needs --wordvec-size = --hidden-size/);
  });

  it('refuses truncated and foreign checkpoints and corrupt weights, leaving earlier files intact', () => {
    const ckpt = path.join(tmp, 'good.ckpt'), log = path.join(tmp, 'good.jsonl');
    expect(rnnlm('train', '--max-epoch', '2', '--checkpoint', ckpt, '--log', log).code).toBe(0);
    const goodCkpt = fs.readFileSync(ckpt), goodLog = fs.readFileSync(log);
    const truncated = path.join(tmp, 'truncated.ckpt');
    fs.writeFileSync(truncated, goodCkpt.subarray(0, goodCkpt.length - 100));
    let r = rnnlm('train', '--resume', truncated);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/truncated\.ckpt: .*(outside the data|bytes)/);
    r = rnnlm('train', '--resume', W); // a weights file is not a checkpoint
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/not an rnnlm checkpoint/);
    r = rnnlm('train', '--resume', ckpt, '--lr', '5');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--lr 5 differs from .*good\.ckpt, whose run has 0\.1: a resumed run keeps its settings/);
    expect(fs.readFileSync(ckpt)).toEqual(goodCkpt);
    expect(fs.readFileSync(log)).toEqual(goodLog);

    const bad = path.join(tmp, 'bad.safetensors');
    const weights = fs.readFileSync(W);
    fs.writeFileSync(bad, weights.subarray(0, 4000));
    r = rnnlm('eval', bad, '--text', VALID);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.safetensors: /);
    expect(rnnlm('generate', bad).code).toBe(1);
  });

  it('resumes with the same command plus --resume, and has nothing to do once every epoch is done', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'same-'));
    const args = ['train', '--corpus-size', '2000', '--lr', '0.5', '--max-epoch', '2', '--log', path.join(dir, 'run.jsonl'),
      '--checkpoint', path.join(dir, 'run.ckpt'), '--save', path.join(dir, 'w.safetensors')];
    expect(rnnlm(...args).code).toBe(0);
    const again = rnnlm(...args, '--resume', path.join(dir, 'run.ckpt'), '--max-epoch', '3');
    expect(again.err).toBe('');
    expect(again.out).toMatch(/resuming .*run\.ckpt at epoch 3, iteration 1/);
    const files = fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs]);
    const done = rnnlm(...args, '--resume', path.join(dir, 'run.ckpt'), '--max-epoch', '3');
    expect(done.code).toBe(0);
    expect(done.out.trim()).toBe(`rnnlm: ${path.join(dir, 'run.ckpt')} has finished 3 epochs; nothing to do (raise --max-epoch to train more)`);
    expect(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).mtimeMs])).toEqual(files);
    const changed = rnnlm(...args, '--resume', path.join(dir, 'run.ckpt'), '--hidden-size', '50');
    expect(changed.code).toBe(2);
    expect(changed.err).toMatch(/--hidden-size 50 differs from .*run\.ckpt, whose run has 100/);
  });

  it.each(['--save', '--save-best', '--log', '--plot', '--checkpoint'])('checks %s before the first iteration', (flag) => {
    const started = Date.now();
    const r = rnnlm('train', '--valid', '--corpus-size', '0', '--max-epoch', '1', flag, '/nonexistent/dir/x.out');
    expect(r.code).toBe(2);
    expect(r.err.trim()).toBe(`rnnlm: ${flag} /nonexistent/dir/x.out: the folder /nonexistent/dir does not exist`);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('saves the weights on Ctrl-C without --checkpoint, and a second Ctrl-C (or SIGTERM) does not abort the save', async () => {
    const w = path.join(tmp, 'interrupted.safetensors'), ckpt = path.join(tmp, 'twice.ckpt');
    for (const [extra, presses] of [[['--save', w], 1], [['--checkpoint', ckpt], 2]] as const) {
      const child = spawn(process.execPath, [CLI, 'train', '--corpus-size', '0', '--batch-size', '20', '--time-size', '35',
        '--model', 'lstm', '--max-epoch', '1', '--eval-interval', '5', ...extra], { env });
      let out = '', err = '';
      child.stderr.on('data', (d) => { err += d; });
      // Wait for the first report after the first one: training is under way.
      await new Promise<void>((resolve) => child.stdout.on('data', (d) => {
        out += d;
        if (/iter 6 \//.test(out)) resolve();
      }));
      if (presses === 1) child.kill('SIGINT');
      else {
        // Both presses must reach the run before it has saved and left, whatever the machine's speed: stop the
        // child, wait until it is stopped, make both signals pending (SIGINT then SIGTERM: two SIGINTs would merge
        // into one), and let it go on. Its signal handler sees them in one turn of the event loop.
        child.kill('SIGSTOP');
        const stat = `/proc/${child.pid}/stat`;
        if (fs.existsSync(stat)) {
          while (!/^\d+ \(.*\) T /.test(fs.readFileSync(stat, 'utf8'))) await new Promise((resolve) => setTimeout(resolve, 1));
        } else {
          await new Promise((resolve) => setTimeout(resolve, 100)); // no /proc (macOS): SIGSTOP takes effect at once
        }
        child.kill('SIGINT');
        child.kill('SIGTERM');
        child.kill('SIGCONT');
      }
      expect(await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))).toBe(130);
      if (presses === 1) {
        expect(err).toMatch(/training interrupted at epoch 1, iteration \d+; weights saved to .*interrupted\.safetensors/);
        expect(readWeights(w).config.cell).toBe('lstm');
      } else {
        expect(err).toMatch(/stopping, please wait/);
        expect(err).toMatch(/checkpoint saved to .*twice\.ckpt/);
        expect(rnnlm('info', ckpt).out).toMatch(/training state: epoch 1, \d+ iterations done/);
      }
    }
  });

  it('has --help with examples for every command, --version, and exit code 2 for usage errors', () => {
    for (const cmd of ['train', 'eval', 'generate', 'score', 'export', 'plot', 'info']) {
      const r = rnnlm(cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Examples?:\n\s+\$ rnnlm /);
    }
    expect(rnnlm('--version').out.trim()).toBe(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
    expect(rnnlm('frobnicate').code).toBe(2);
    expect(rnnlm('generate').code).toBe(2); // missing <weights>
    expect(rnnlm('train', '--save-best', 'x.safetensors').err).toMatch(/--save-best needs --valid/);
    // A preset's schedule that --no-valid turns off says where it comes from.
    expect(rnnlm('train', '--preset', 'pytorch', '--no-valid')).toMatchObject({ code: 2, err: 'rnnlm: --lr-decay (set by --preset pytorch) needs validation: drop --no-valid\n' });
  });
});
