/**
 * Data-parallel training across processes under mpirun (Open MPI; CI installs it): 2 and 3 ranks give the numbers
 * of one process (to the order of float sums) with the same weights on every rank, for the plain RNN, a 2-layer
 * LSTM with dropout, the class, sampled and tree outputs, and worker threads inside a rank; the bytes a step sends
 * follow from the rows it touches; the CLI's runs interrupted under mpirun resume with another rank count or
 * without MPI, as if they never stopped; a killed rank ends the run within seconds and leaves a checkpoint that
 * resumes.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nativeInfo } from '../src/backend/native';
import { LanguageModel, type ModelConfig } from '../src/model';
import { readWeights } from '../src/weights';
import { expectClose, PTB_DIR, ROOT } from './helpers';

const built = Boolean(nativeInfo()?.mpi);
const describeMpi = built || process.env.CI === 'true' ? describe : describe.skip;
const FIT = path.join(ROOT, 'test', 'support', 'mpi-fit.js');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const env = { ...process.env, PTB_DIR, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { corpus } = require(FIT) as { corpus: (c: { length: number; vocab: number; seed: number }) => Int32Array };

interface RankResult { rank: number; size: number; workers: number; ppl: number[]; valPpl: number[]; losses: number[]; params: number[]; state: number[][]; traffic?: { steps: number; bytes: number; ms: number } }

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-dist-'));

function mpirun(np: number, args: string[], timeout = 120000): SpawnSyncReturns<string> {
  return spawnSync('mpirun', ['-np', String(np), '--oversubscribe', process.execPath, ...args], { encoding: 'utf8', timeout, env });
}

/** A fit in one process and on `np` ranks: every rank's result, and the one process's. */
function fitBoth(name: string, job: { fit: object }, np = 2, oneProcess: object = {}): { one: RankResult; ranks: RankResult[] } {
  const out = path.join(tmp, name);
  const single = spawnSync(process.execPath, [FIT, JSON.stringify({ ...job, fit: { ...job.fit, ...oneProcess }, out: `${out}-one` })], { encoding: 'utf8', env });
  expect(single.stderr).toBe('');
  const r = mpirun(np, [FIT, JSON.stringify({ ...job, out })]);
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.status).toBe(0);
  const read = (f: string): RankResult => JSON.parse(fs.readFileSync(f, 'utf8')) as RankResult;
  return { one: read(`${out}-one.json`), ranks: Array.from({ length: np }, (_, k) => read(`${out}.${k}.json`)) };
}

const V = 60;
const base = { vocabSize: V, wordvecSize: 12, hiddenSize: 12, layers: 1, dropout: 0 };
const counts = Array.from({ length: V }, (_, i) => Math.round(1000 / (i + 1)));
const cases: [string, Partial<ModelConfig>, number, number][] = [
  // name, model, ranks, workers per rank
  ['rnn', { cell: 'rnn', output: 'full' }, 2, 1],
  ['lstm-2-dropout', { cell: 'lstm', layers: 2, dropout: 0.3, output: 'full' }, 2, 1],
  ['lstm-class-workers', { cell: 'lstm', dropout: 0.3, output: 'class', classBounds: [0, 3, 10, 25, 60] }, 2, 2],
  ['gru-sampled', { cell: 'gru', output: 'sampled', noise: { samples: 10, power: 0.75, counts } }, 2, 1],
  ['rnn-tree-3-ranks', { cell: 'rnn', output: 'tree', treeCounts: counts }, 3, 1],
  ['lstm-tied-3-ranks', { cell: 'lstm', tied: true, output: 'full' }, 3, 1],
];

describeMpi('mpirun: R ranks give the numbers of one process', () => {
  it.each(cases)('%s', (name, model, np, workers) => {
    // Batch 7 does not divide among the ranks: 4 + 3, or 3 + 2 + 2 rows.
    // Validation in 5 x 7 windows: 5 rows split among the ranks as well.
    const job = {
      model: { ...base, ...model }, corpus: { length: 3000, vocab: V, seed: 11 }, validation: { length: 400, vocab: V, seed: 12, batchSize: 5, timeSize: 7 },
      fit: { batchSize: 7, timeSize: 6, maxEpoch: 2, maxGrad: 1, workers },
    };
    const { one, ranks } = fitBoth(name, job, np);
    expect(ranks.map((r) => [r.rank, r.size, r.workers])).toEqual(Array.from({ length: np }, (_, k) => [k, np, workers]));
    for (const r of ranks.slice(1)) {
      // The same bits on every rank: weights, state, losses.
      expect(r.params).toEqual(ranks[0].params);
      expect(r.state).toEqual(ranks[0].state);
      expect(r.losses).toEqual(ranks[0].losses);
    }
    expect(ranks[0].losses).toHaveLength(one.losses.length);
    expectClose('losses', ranks[0].losses, one.losses, 1e-6);
    expectClose('epoch perplexities', ranks[0].ppl, one.ppl, 1e-6);
    expect(ranks.map((r) => r.valPpl)).toEqual(ranks.map(() => ranks[0].valPpl));
    expectClose('validation perplexities', ranks[0].valPpl, one.valPpl, 1e-6);
    expectClose('weights', ranks[0].params, one.params, 1e-5);
    ranks[0].state.forEach((s, k) => expectClose(`state ${k}`, s, one.state[k], 1e-5));
  });

  it('with bf16 products, as one process whose 2 workers take the same rows', () => {
    // bf16 rounds each product's operands, so it follows the row split: one process on 2 workers cuts the batch as
    // 2 ranks do, and only the order of the float32 sums differs.
    const job = { model: { ...base, cell: 'lstm', output: 'full' }, precision: 'bf16', corpus: { length: 3000, vocab: V, seed: 11 }, fit: { batchSize: 8, timeSize: 6, maxEpoch: 2, maxGrad: 1, workers: 1 } };
    const { one, ranks } = fitBoth('bf16', job, 2, { workers: 2 });
    expect(ranks[1].params).toEqual(ranks[0].params);
    expectClose('losses', ranks[0].losses, one.losses, 1e-6);
    expectClose('weights', ranks[0].params, one.params, 1e-6);
  });

  it('sends the dense gradient and only the embedding rows a step touches', () => {
    const model = { ...base, cell: 'rnn' as const, output: 'full' as const };
    const N = 6, T = 5, length = 2000, np = 2;
    const job = { model, corpus: { length, vocab: V, seed: 5 }, fit: { batchSize: N, timeSize: T, maxEpoch: 1, workers: 1 } };
    const { ranks } = fitBoth('traffic', job, np);
    // An independent count: the distinct input ids of each batch as the book cuts them (row i from i * jump).
    const ids = corpus({ length, vocab: V, seed: 5 }).subarray(0, -1);
    const jump = Math.floor(ids.length / N), iters = Math.floor(ids.length / (N * T));
    const P = new LanguageModel(model).flatParams.length, dense = P - V * base.wordvecSize;
    let expected = 0;
    for (let it = 0; it < iters; it++) {
      const seen = new Set<number>();
      for (let i = 0; i < N; i++) for (let t = 0; t < T; t++) seen.add(ids[(i * jump + it * T + t) % ids.length]);
      const summed = dense + seen.size * base.wordvecSize + 1;
      expected += (np - 1) * (2 + (N / np) * T) * 8 + (2 * (np - 1) / np) * summed * 4;
    }
    for (const r of ranks) {
      expect(r.traffic!.steps).toBe(iters);
      expect(r.traffic!.bytes).toBeCloseTo(expected, 6);
    }
    // Less than the whole embedding gradient would be.
    expect(ranks[0].traffic!.bytes / iters).toBeLessThan((2 * (np - 1) / np) * P * 4);
  });
});

/** The log's records, for comparing runs. */
function logRecords(file: string): { type: string; epoch: number; iter?: number; ppl: number }[] {
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; epoch: number; iter?: number; ppl: number });
}

function cli(args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 120000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts `mpirun -np np rnnlm ...args` and resolves when its output matches `until`. */
function startRun(np: number, args: string[], until: RegExp): { child: ReturnType<typeof spawn>; reached: Promise<void>; output: () => string; exited: Promise<number | null> } {
  const child = spawn('mpirun', ['-np', String(np), '--oversubscribe', process.execPath, CLI, ...args], { env });
  let out = '';
  const reached = new Promise<void>((resolve) => {
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (until.test(out)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, reached, output: () => out, exited };
}

describeMpi('rnnlm train under mpirun', () => {
  const args = ['train', '--model', 'lstm', '--num-layers', '2', '--dropout', '0.3', '--wordvec-size', '16', '--hidden-size', '16',
    '--corpus-size', '200000', '--batch-size', '10', '--time-size', '10', '--lr', '2', '--max-grad', '1', '--max-epoch', '2',
    '--eval-interval', '100', '--workers', '1'];
  const full = path.join(tmp, 'full.jsonl'), fullW = path.join(tmp, 'full.safetensors');

  beforeAll(() => {
    expect(cli([...args, '--log', full, '--save', fullW]).code).toBe(0);
  });

  it('says it runs on 2 ranks, prints once, and resumes an interrupted run with 3 ranks or without MPI as if it never stopped', async () => {
    const log = path.join(tmp, 'stopped.jsonl'), ckpt = path.join(tmp, 'run.ckpt'), W = path.join(tmp, 'run.safetensors');
    const run = startRun(2, [...args, '--log', log, '--checkpoint', ckpt, '--save', W], /\| epoch 2 \| iter 101 \//);
    await run.reached;
    run.child.kill('SIGINT');
    await run.exited;
    const out = run.output();
    expect(out.match(/^rnnlm: corpus .*, 2 ranks \(MPI\), workers 1 per rank$/gm)).toHaveLength(1);
    expect(out.match(/^\| epoch 1 \| perplexity/gm)).toHaveLength(1);
    const m = /training interrupted at epoch 2, iteration (\d+); checkpoint saved to .*run\.ckpt/.exec(out);
    expect(m).not.toBeNull();
    expect(out).not.toMatch(/\[rank 1\]/);
    // The same checkpoint resumed in one process and on 3 ranks (each cuts the log back to what the checkpoint knew).
    const ckpt3 = path.join(tmp, 'run3.ckpt'), log1 = path.join(tmp, 'resumed-one.jsonl'), W1 = path.join(tmp, 'w1.safetensors');
    fs.copyFileSync(ckpt, ckpt3);
    const one = cli(['train', '--resume', ckpt]);
    expect(one.err).toBe('');
    expect(one.out).toMatch(/resuming .*run\.ckpt at epoch 2, iteration \d+/);
    fs.renameSync(W, W1);
    fs.copyFileSync(log, log1);
    const three = mpirun(3, [CLI, 'train', '--resume', ckpt3]);
    expect(three.status).toBe(0);
    expect(three.stdout).toMatch(/3 ranks \(MPI\), workers auto \(1\) per rank/);
    const a = logRecords(full);
    for (const [file, weights] of [[log1, W1], [log, W]]) {
      const b = logRecords(file);
      expect(b.map((x) => [x.type, x.epoch, x.iter])).toEqual(a.map((x) => [x.type, x.epoch, x.iter]));
      expectClose('perplexities', b.map((x) => x.ppl), a.map((x) => x.ppl), 1e-5);
      expectClose('weights', readWeights(weights).tensors.get('lstm.1.Wh')!.data, readWeights(fullW).tensors.get('lstm.1.Wh')!.data, 1e-4);
    }
  });

  it('ends every rank within seconds when one is killed, naming it, and the last checkpoint resumes', async () => {
    const ckpt = path.join(tmp, 'killed.ckpt');
    const run = startRun(2, [...args, '--max-epoch', '50', '--checkpoint', ckpt], /\| epoch 2 \| perplexity/);
    await run.reached;
    const rank1 = rankPid(run.child.pid!, '1');
    process.kill(rank1, 'SIGKILL');
    const killedAt = performance.now();
    const code = await run.exited;
    expect(performance.now() - killedAt).toBeLessThan(10000);
    expect(code).not.toBe(0);
    expect(run.output()).toMatch(/process rank 1 .*exited on signal 9/);
    const r = cli(['train', '--resume', ckpt, '--max-epoch', '4']);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/resuming .*killed\.ckpt at epoch [23], iteration 1/);
    expect(r.out).toMatch(/^\| epoch 4 \| perplexity/m);
  });

  it('ends the run within seconds when a rank stops answering, naming it', async () => {
    const run = startRun(3, [...args, '--max-epoch', '50', '--exchange-timeout', '2'], /\| epoch 1 \| iter 101 \//);
    await run.reached;
    const rank1 = rankPid(run.child.pid!, '1');
    process.kill(rank1, 'SIGSTOP');
    const stoppedAt = performance.now();
    const code = await run.exited;
    // The timeout, then as long again for the ranks that still answer to find each other.
    expect(performance.now() - stoppedAt).toBeLessThan(15000);
    expect(code).not.toBe(0);
    expect(run.output()).toMatch(/^rnnlm: rank 1 did not answer for 2 s \(stopped, or the network to it is down\)$/m);
    expect(run.output()).toMatch(/^\[rank 2\] rnnlm: rank 1 did not answer for 2 s/m);
    // mpirun ends the stopped rank too (SIGKILL reaches a stopped process), a moment after it exits.
    for (let i = 0; i < 50 && isRunning(rank1); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(isRunning(rank1)).toBe(false);
  });

  it('prepares a --text once per machine: the first rank fills the cache, the others read it', () => {
    const text = path.join(tmp, 'own.txt'), cache = path.join(tmp, 'cache');
    const words = Array.from({ length: 300 }, (_, i) => `w${i}`);
    let s = 1;
    const lines = Array.from({ length: 400 }, () => Array.from({ length: 12 }, () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return words[Math.floor(((s >>> 8) / 16777216) ** 2 * words.length)];
    }).join(' '));
    fs.writeFileSync(text, lines.join('\n') + '\n');
    const r = spawnSync('mpirun', ['-np', '2', '--oversubscribe', '-x', 'XDG_CACHE_HOME', process.execPath, CLI, 'train', '--text', text, '--max-epoch', '2'],
      { encoding: 'utf8', timeout: 60000, env: { ...env, XDG_CACHE_HOME: cache } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^rnnlm: corpus .*own\.txt, 5200 tokens, .*2 ranks \(MPI\)/m);
    expect(fs.readdirSync(path.join(cache, 'rnnlm', 'datasets'))).toHaveLength(1);
  });

  it('refuses a batch with fewer rows than ranks, and workers beyond a rank\'s rows', () => {
    let r = mpirun(3, [CLI, 'train', '--batch-size', '2']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^rnnlm: --batch-size 2 has fewer rows than the 3 ranks: each rank needs a batch row$/m);
    r = mpirun(2, [CLI, 'train', '--batch-size', '3', '--workers', '2']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^\[rank 1\] rnnlm: --workers 2 exceeds the 1 rows of --batch-size 3 that rank 1 of 2 takes/m);
  });

  it('refuses ranks that would train on other data or from other weights', () => {
    const mpmd = (a: string[], b: string[]): SpawnSyncReturns<string> => spawnSync('mpirun',
      ['--oversubscribe', '-np', '1', process.execPath, CLI, 'train', ...a, ':', '-np', '1', process.execPath, CLI, 'train', ...b],
      { encoding: 'utf8', timeout: 60000, env });
    let r = mpmd(['--corpus-size', '2000'], ['--corpus-size', '3000']);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/^rnnlm: rank 1 has training data with hash \d+ but rank 0 has \d+: every rank must read the same data/m);
    r = mpmd(['--seed', '1'], ['--seed', '2']);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/^rnnlm: rank 1 has weights with checksum \d+ but rank 0 has \d+: every rank must start the same run/m);
    expect(r.stdout).not.toMatch(/epoch 1/);
  });
});

/** The pid of the process of MPI rank `rank` under mpirun `root` (from the environment mpirun gave it). */
function rankPid(root: number, rank: string): number {
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const environ = readOr(`/proc/${pid}/environ`);
    if (environ.split('\0').includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return pid;
    const children = readOr(`/proc/${pid}/task/${pid}/children`).trim();
    if (children !== '') queue.push(...children.split(/\s+/).map(Number));
  }
  throw new Error(`no process of rank ${rank} under ${root}`);
}

/** Whether process `pid` still exists (mpirun ends the ranks of a job that failed, stopped ones included). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
