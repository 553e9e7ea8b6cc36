/**
 * Every `rnnlm train` example in `rnnlm train --help` and in test/examples.txt (the commands the README and the
 * benchmark notes show) trains: run for 310 iterations (past the divergence check's warm-up), it exits 0 and its
 * running perplexity is well below the vocabulary size (where every run starts). Examples that differ only in
 * outputs, epochs, validation or the closing test run once; those that need files a reader would supply (--text,
 * --data, --resume, a missing --init) are left to the tests of those flags; outputs go to a temporary folder.
 * The book's largest model (ch6-better, 2 x 650) runs 60 iterations, which show it learning; the divergence check
 * after the warm-up runs in every other example, the same cell, learning rate and clipping among them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DIVERGENCE_WARMUP } from '../src/trainer';
import { PTB_DIR, ROOT } from './helpers';

const CLI = path.join(ROOT, 'dist', 'cli.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-examples-'));
const env = { ...process.env, PTB_DIR };
const OUTPUTS = new Set(['--save', '--save-best', '--log', '--plot', '--checkpoint']);
/** Past the divergence check's warm-up, with a report after it. */
const ITERATIONS = DIVERGENCE_WARMUP + 10;
const LARGEST_MODEL_ITERATIONS = 60;

/** Joins `\`-continued lines and returns the argument lists of every `<prefix> train ...` command. */
function commands(text: string, prefix: RegExp): string[][] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  const out: string[][] = [];
  for (const m of joined.matchAll(new RegExp(`${prefix.source}train((?: +[^\\s\`#|]+)*)`, 'g'))) {
    out.push(['train', ...m[1].trim().split(/\s+/).filter(Boolean)]);
  }
  return out;
}

const help = spawnSync(process.execPath, [CLI, 'train', '--help'], { encoding: 'utf8', env }).stdout;
const listed = fs.readFileSync(path.join(ROOT, 'test', 'examples.txt'), 'utf8').split('\n').filter((l) => l.startsWith('rnnlm train'))
  .map((l) => l.slice('rnnlm '.length).trim().split(/\s+/));
const all = [...commands(help, /\$ rnnlm /), ...listed];
/** What decides the first iterations: the arguments without outputs, epochs, reports and validation. */
function trainingKey(args: string[]): string {
  const keep: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (OUTPUTS.has(args[i]) || ['--max-epoch', '--eval-interval', '--lr-decay'].includes(args[i])) i++;
    else if (args[i] !== '--valid' && args[i] !== '--test') keep.push(args[i]);
  }
  return keep.join(' ');
}

const seen = new Set<string>();
const examples = all.filter((args) => {
  const key = trainingKey(args);
  if (seen.has(key)) return false;
  seen.add(key);
  if (args.some((a) => a === '--text' || a === '--data' || a === '--resume' || a === '--help')) return false;
  if (args.some((a) => a.includes('…') || /^[A-Z|]+$/.test(a))) return false; // prose with placeholders, not a command
  const init = args.indexOf('--init');
  return init < 0 || fs.existsSync(path.resolve(ROOT, args[init + 1]));
});

describe('the examples train', () => {
  it('finds the examples', () => {
    expect(listed.length).toBeGreaterThanOrEqual(15);
    expect(examples.length).toBeGreaterThanOrEqual(15);
    expect(examples.map(trainingKey)).toEqual(expect.arrayContaining(['train --preset ch6', 'train --preset pytorch --tied', 'train --preset pytorch']));
  });

  it.each(examples.map((a) => [a.join(' '), a]))('rnnlm %s', (_label, args) => {
    const run = (args as string[]).map((a, i, xs) => (OUTPUTS.has(xs[i - 1]) ? path.join(tmp, path.basename(a)) : a));
    const iterations = (args as string[]).includes('ch6-better') ? LARGEST_MODEL_ITERATIONS : ITERATIONS;
    const r = spawnSync(process.execPath, [CLI, ...run, '--max-iters', String(iterations), '--eval-interval', '10'], {
      encoding: 'utf8', env, cwd: ROOT, timeout: 300000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const vocab = Number(/vocabulary (\d+)/.exec(r.stdout)![1]);
    const ppl = Number(/running perplexity ([\d.]+)/.exec(r.stdout)![1]);
    expect(ppl).toBeLessThan(0.6 * vocab); // learning: the first report is about the vocabulary size
  }, 400000);
});
