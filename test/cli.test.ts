import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readWeights } from '../src';
import { FIXTURES, PTB_DIR, ROOT, readFixture } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');

function rnnlm(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8', env: { ...process.env, PTB_DIR, ...env }, timeout: 60000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-cli-'));
const INIT = path.join(FIXTURES, 'seed-config-init.safetensors');

describe('rnnlm train', () => {
  it('trains the seed configuration from the fixture weights: reference perplexities, log and weights', () => {
    const log = path.join(tmp, 'run.jsonl'), save = path.join(tmp, 'w.safetensors');
    const r = rnnlm(['train', '--init', INIT, '--max-epoch', '3', '--backend', 'js', '--log', log, '--save', save]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const ref = readFixture<{ ppl: number[] }>('seed-config-ppl.json').ppl;
    const lines = r.out.split('\n').filter((l) => /^\| epoch \d+ \| perplexity/.test(l));
    expect(lines).toHaveLength(3);
    lines.forEach((l, i) => {
      const m = /^\| epoch (\d+) \| perplexity ([\d.]+) \|$/.exec(l)!;
      expect(Number(m[1])).toBe(i + 1);
      expect(Math.abs(Number(m[2]) - ref[i])).toBeLessThan(0.01 * ref[i]);
    });
    expect(r.out).toMatch(/trained 3 epochs \(2850 tokens\) in [\d.]+ s, \d+ tokens\/s; final perplexity [\d.]+/);
    const records = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.type === 'epoch');
    expect(records.map((x) => x.epoch)).toEqual([1, 2, 3]);
    for (const x of records) {
      expect(x.ppl).toBeGreaterThan(1);
      expect(x.tokens_per_s).toBeGreaterThan(0);
      expect(x.elapsed_s).toBeGreaterThan(0);
    }
    const w = readWeights(save);
    expect(w.vocab).toHaveLength(418);
    expect(w.vocab![24]).toBe('<eos>');
    // Training from the saved weights continues from them (first epoch well below the initial 401).
    const again = rnnlm(['train', '--init', save, '--max-epoch', '1', '--backend', 'js']);
    expect(again.code).toBe(0);
    expect(Number(/^\| epoch 1 \| perplexity ([\d.]+)/m.exec(again.out)![1])).toBeLessThan(ref[2]);
  });

  it('documents every flag with an example', () => {
    const r = rnnlm(['train', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--corpus-size', '--batch-size', '--time-size', '--wordvec-size', '--hidden-size', '--lr',
      '--max-epoch', '--max-grad', '--seed', '--init', '--save', '--log', '--backend', '--data-dir']) {
      expect(r.out).toContain(flag);
    }
    expect(r.out).toMatch(/Examples:\n\s+\$ rnnlm train/);
  });

  const usage: [string, string[], RegExp][] = [
    ['a non-integer size', ['--batch-size', '2.5'], /--batch-size.*'2.5' is invalid. Expected a positive integer/],
    ['a zero size', ['--hidden-size', '0'], /--hidden-size.*'0' is invalid/],
    ['a negative size', ['--time-size', '-3'], /--time-size.*'-3' is invalid/],
    ['a text size', ['--wordvec-size', 'ten'], /--wordvec-size.*'ten' is invalid/],
    ['lr = 0', ['--lr', '0'], /--lr.*'0' is invalid. Expected a positive number/],
    ['a negative lr', ['--lr=-0.1'], /--lr.*'-0.1' is invalid/],
    ['a NaN max-grad', ['--max-grad', 'NaN'], /--max-grad.*'NaN' is invalid/],
    ['an unknown backend', ['--backend', 'gpu'], /--backend.*'gpu' is invalid. Allowed choices are js, native/],
    ['an unknown flag', ['--batchsize', '3'], /unknown option '--batchsize'/],
    ['a bad worker count', ['--workers', 'many'], /--workers.*'many' is invalid. Expected a positive integer or 'auto'/],
    ['more workers than rows', ['--workers', '11'], /--workers 11 exceeds --batch-size 10/],
    ['BLAS threads without native', ['--blas-threads', '2'], /--blas-threads needs the native backend/],
    ['batch x time beyond the corpus', ['--batch-size', '100', '--time-size', '10'],
      /--batch-size 100 x --time-size 10 = 1000 exceeds the 999 training positions of 1000 tokens/],
    ['a corpus size beyond the split', ['--corpus-size', '2000000'], /--corpus-size 2000000 exceeds the 929589 tokens/],
    ['init weights of other sizes', ['--init', INIT, '--hidden-size', '50'], /has hidden size 100, but --hidden-size is 50/],
  ];
  it.each(usage)('exits 2 with a one-line message for %s', (_label, args, message) => {
    const r = rnnlm(['train', '--backend', 'js', ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exits 1 naming the file for unreadable or malformed weights', () => {
    const bad = path.join(tmp, 'bad.safetensors');
    fs.writeFileSync(bad, Buffer.from([1, 2, 3]));
    let r = rnnlm(['train', '--backend', 'js', '--init', bad]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`rnnlm: ${bad}: too short for a safetensors file (3 bytes)`);
    r = rnnlm(['train', '--backend', 'js', '--init', path.join(tmp, 'missing.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot read weights file .*missing.safetensors: no such file/);
  });

  it('exits 1 with where it looked when the data is missing', () => {
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    const r = rnnlm(['train', '--backend', 'js', '--data-dir', empty], { RNNLM_PTB_URL: 'http://127.0.0.1:9/' });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`ptb.train.txt not found in ${empty}`);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it('stops cleanly on SIGINT with workers running: exit 130, where it stopped, no hang', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [CLI, 'train', '--corpus-size', '0', '--batch-size', '20', '--time-size', '35',
      '--workers', '2', '--max-epoch', '1', '--eval-interval', '5'], { env: { ...process.env, PTB_DIR } });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    // Wait for the second report line: the workers are running iterations (no fixed sleep to flake on busy cores).
    let seen = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => {
      seen += d;
      if ((seen.match(/\| iter \d+ \//g) ?? []).length >= 2) resolve();
    }));
    const started = Date.now();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out).toMatch(/workers 2/);
    expect(err).toMatch(/^rnnlm: training interrupted at epoch 1, iteration \d+/m);
    expect(code).toBe(130);
  });

  it('stops a run that stays worse than uniform guessing after warm-up, with where and a hint', () => {
    const r = rnnlm(['train', '--lr', '3', '--max-epoch', '40']);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toMatch(/^rnnlm: the running perplexity (\d+|\d\.\d\de\+\d+) \(over the last 100 iterations\) is worse than guessing uniformly among 418 words at epoch 16, iteration 15: training diverged; lower --lr or set --max-grad$/);
  });

  it('stops with the epoch and iteration when the loss is not finite', () => {
    const r = rnnlm(['train', '--backend', 'js', '--lr', '1e30', '--max-epoch', '5']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^rnnlm: loss became [-+.\de]+ at epoch 1, iteration \d+: training diverged/);
  });
});
