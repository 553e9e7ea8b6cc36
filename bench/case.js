'use strict';
/**
 * One benchmark case in a fresh process: `node bench/case.js '{"workload":"B","backend":"native","blasThreads":2}'`
 * or `'{"peak":true}'`. Prints one JSON line with the result. Timing by benchmark.js.
 */
const path = require('node:path');
const os = require('node:os');
const { performance } = require('node:perf_hooks');
const Benchmark = require('benchmark');
const rnnlm = require(path.join(__dirname, '..', 'dist'));
const native = require(path.join(__dirname, '..', 'dist', 'backend', 'native.js'));
const { WORKLOADS } = require('./workloads');

// Call the test function as it is (benchmark.js would otherwise recompile its source and lose the closure).
Benchmark.support.decompilation = false;

const spec = JSON.parse(process.argv[2] || '{}');
const quick = Boolean(spec.quick);

/** Times `fn` (returning a promise) with benchmark.js, as a deferred benchmark. */
function measure(fn, slow) {
  return new Promise((resolve, reject) => {
    const b = new Benchmark('case', (deferred) => fn().then(() => deferred.resolve(), reject), {
      defer: true, minSamples: quick || slow ? 1 : 5, maxTime: quick ? 0.05 : slow ? 1 : 3, initCount: 1,
      minTime: quick ? 0.001 : 0.05,
      onComplete: () => (b.error ? reject(b.error) : resolve({
        seconds: b.stats.mean, rme: b.stats.rme, samples: b.stats.sample.length, cycles: b.count,
      })),
    });
    b.run({ async: true });
  });
}

async function main() {
  const ninfo = native.nativeInfo();
  if (spec.workers !== undefined && spec.workers !== 'auto' && !(spec.workers >= 1)) throw new Error('bad workers');
  if (spec.peak) {
    if (spec.blasThreads && ninfo) native.setBlasThreads(spec.blasThreads);
    // The machine's sgemm peak: a large square product on all BLAS threads.
    const n = quick ? 512 : 2048;
    const b = rnnlm.resolveBackend('native');
    const A = new Float32Array(n * n).fill(0.5), B = new Float32Array(n * n).fill(0.25), C = new Float32Array(n * n);
    const m = await measure(async () => b.sgemm(false, false, n, n, n, 1, A, n, B, n, 0, C, n), false);
    console.log(JSON.stringify({ peak: true, n, blasThreads: native.getBlasThreads(), ms: m.seconds * 1e3, gflops: (2 * n ** 3) / m.seconds / 1e9 }));
    return;
  }
  if (spec.prepare) {
    // rnnlm prepare of a generated text (run.js writes it): MB/s and the process's peak resident memory.
    const { prepareDataset } = require(path.join(__dirname, '..', 'dist', 'data', 'prepare.js'));
    const fs = require('node:fs');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-bench-prepare-'));
    const t0 = performance.now();
    const r = await prepareDataset({ train: [spec.text], out, vocabSize: 100000, backend: rnnlm.resolveBackend(spec.backend) });
    const seconds = (performance.now() - t0) / 1000;
    fs.rmSync(out, { recursive: true, force: true });
    const bytes = r.splits.train.bytes;
    console.log(JSON.stringify({
      prepare: true, backend: spec.backend, mb: bytes / 1e6, tokens: r.splits.train.tokens, seconds, mbPerS: bytes / 1e6 / seconds,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    }));
    return;
  }
  const w = WORKLOADS[spec.workload];
  const { corpus } = w.zipf ? { corpus: require('./zipf').zipfIds(4_000_000, w.zipf, 1) } : await rnnlm.loadPtb('train');
  let data = w.corpusSize > 0 ? corpus.subarray(0, w.corpusSize) : corpus;
  let V = 0;
  for (const id of data) V = Math.max(V, id + 1);
  const config = { ...w.model, vocabSize: V };
  if (w.classes) {
    // As rnnlm train --output class: words numbered by frequency, frequency classes as runs of ids.
    const { remap, counts } = rnnlm.frequencyOrder(data, V);
    data = Int32Array.from(data, (id) => remap[id]);
    config.classBounds = rnnlm.frequencyClasses(counts, w.classes);
  }
  if (w.tree) config.treeCounts = Array.from(rnnlm.wordCounts(data, V));
  if (w.noiseSamples) {
    config.noise = { samples: w.noiseSamples, power: 0.75, counts: Array.from(rnnlm.wordCounts(data, V)) };
  }
  const backend = rnnlm.resolveBackend(spec.backend, spec.precision ?? 'fp32');
  const model = new rnnlm.LanguageModel(config, { backend, seed: 0 });
  const sgd = new rnnlm.SGD(0.1, { backend });
  if (spec.ranks) return acrossRanks(w, model, sgd, data);
  const batches = new rnnlm.BatchCutter(data.subarray(0, -1), data.subarray(1), w.N, w.T);
  const workers = spec.workers === 'auto' ? rnnlm.autoWorkers(model, w.N, w.T) : spec.workers || 1;
  // The trainer's iteration: serial, or through the parallel engine, with BLAS threads as the trainer sets them:
  // given, else autoBlasThreads (1 for small models, else cores / workers).
  backend.setThreads(spec.blasThreads ?? rnnlm.autoBlasThreads(model, w.N, w.T, workers));
  // The trainer's iteration through its executor (serial, or the parallel engine): the step, the clipping norm
  // and SGD, which leaves the gradient zero for the next step.
  const executor = workers > 1 ? new rnnlm.ParallelEngine(model, w.N, w.T, { workers }) : new rnnlm.SerialExecutor(model, w.N, w.T);
  let iteration = 0;
  const step = async () => {
    batches.next();
    iteration++;
    await executor.forwardBackward(batches.xs, batches.ts, iteration, '');
    await sgd.step(executor, rnnlm.clipScale(Math.sqrt(executor.gradSumSquares()), 0.25));
  };
  await step(); // allocate the layers' buffers (and start the threads) outside the timing
  const blasInUse = spec.backend === 'native' ? backend.getThreads() : 0;
  const m = await measure(step, spec.backend === 'js' && spec.workload !== 'A');
  await executor.close();
  const flops = model.flops(w.N, w.T);
  console.log(JSON.stringify({
    workload: spec.workload, backend: spec.backend, precision: spec.precision ?? 'fp32', workers, requested: spec.workers || 1, blasThreads: blasInUse,
    N: w.N, T: w.T, D: model.wordvecSize, H: model.hiddenSize, V, layers: model.config.layers, cell: model.config.cell,
    msPerIter: m.seconds * 1e3, tokensPerS: (w.N * w.T) / m.seconds, gflops: flops / m.seconds / 1e9,
    rme: m.rme, samples: m.samples, cycles: m.cycles, cpus: os.availableParallelism(),
  }));
}

/**
 * The trainer's iteration on each rank of an mpirun job (MpiExecutor over a serial executor per rank): every rank
 * must run the same steps, so a fixed count of them is timed instead of benchmark.js's adaptive one. Rank 0 prints
 * ms per iteration and what the exchanges cost per step: the bytes a rank sends and the milliseconds they take.
 */
async function acrossRanks(w, model, sgd, data) {
  const comm = rnnlm.mpiWorld();
  const cores = rnnlm.rankCores(comm);
  const rows = rnnlm.batchRows(w.N, comm.rank, comm.size);
  const batches = new rnnlm.BatchCutter(data.subarray(0, -1), data.subarray(1), w.N, w.T, rows);
  model.backend.setThreads(rnnlm.autoBlasThreads(model, rows[1] - rows[0], w.T, 1, cores));
  const executor = new rnnlm.MpiExecutor(model, w.N, w.T, comm, (n, offset) => new rnnlm.SerialExecutor(model, n, w.T, offset));
  let iteration = 0;
  const step = async () => {
    batches.next();
    await executor.prepare(batches.xs, batches.ts, false);
    await executor.forwardBackward(batches.xs, batches.ts, ++iteration, '');
    await sgd.step(executor, rnnlm.clipScale(Math.sqrt(executor.gradSumSquares()), 0.25));
  };
  for (let i = 0; i < 5; i++) await step();
  const before = { ...executor.traffic }, iters = quick ? 3 : spec.iterations ?? 100;
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await step();
  const seconds = (performance.now() - t0) / 1000 / iters;
  await executor.close();
  if (comm.rank === 0) {
    console.log(JSON.stringify({
      workload: spec.workload, backend: spec.backend, precision: spec.precision ?? 'fp32', ranks: comm.size, workers: 1, blasThreads: model.backend.getThreads(),
      N: w.N, T: w.T, D: model.wordvecSize, H: model.hiddenSize, V: model.vocabSize, msPerIter: seconds * 1e3, tokensPerS: (w.N * w.T) / seconds,
      gflops: model.flops(w.N, w.T) / seconds / 1e9, bytesPerStep: (executor.traffic.bytes - before.bytes) / iters,
      exchangeMsPerStep: (executor.traffic.ms - before.ms) / iters, iterations: iters,
    }));
  }
  rnnlm.mpiFinalize();
}

main().catch((e) => {
  console.error(`bench case ${process.argv[2]}: ${e.stack || e}`);
  process.exit(1);
});
