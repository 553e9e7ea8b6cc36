/**
 * One rank of a data-parallel fit (or the whole fit when not under mpirun), for test/distributed.test.ts. Its
 * argument is a JSON job: { model: ModelConfig, fit: FitOptions, corpus: { length, vocab, seed }, validation?: { length,
 * vocab, seed, batchSize, timeSize }, precision?, out }. It writes
 * `${out}.${rank}.json` (or `${out}.json` alone): the epochs' perplexities (training and validation), the weights, the recurrent state and the
 * bytes and steps of the collectives.
 */
const fs = require('node:fs');
const path = require('node:path');
const dist = path.resolve(__dirname, '..', '..', 'dist');
const { LanguageModel } = require(path.join(dist, 'model'));
const { RnnlmTrainer } = require(path.join(dist, 'trainer'));
const { SGD } = require(path.join(dist, 'optimizer'));
const { resolveBackend } = require(path.join(dist, 'backend'));
const { launchedByMpi, mpiFinalize, mpiWorld } = require(path.join(dist, 'distributed'));

/** A seeded corpus of `length` ids in [0, vocab): skewed towards small ids, as words are. */
function corpus({ length, vocab, seed }) {
  let s = seed >>> 0;
  return Int32Array.from({ length }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const u = (s >>> 8) / 16777216;
    return Math.min(vocab - 1, Math.floor(vocab * u * u));
  });
}

async function run(job) {
  const ranks = launchedByMpi() ? mpiWorld() : undefined;
  const model = new LanguageModel(job.model, { backend: resolveBackend('native', job.precision ?? 'fp32'), seed: 3 });
  const trainer = new RnnlmTrainer(model, new SGD(job.lr ?? 0.5));
  const ids = corpus(job.corpus);
  const steps = [];
  const validation = job.validation && { corpus: corpus(job.validation), batchSize: job.validation.batchSize, timeSize: job.validation.timeSize };
  const reports = await trainer.fit(ids.subarray(0, -1), ids.subarray(1), {
    ...job.fit, ranks, validation, onStep: (p) => steps.push(p.loss),
  });
  const file = `${job.out}${ranks ? `.${ranks.rank}` : ''}.json`;
  fs.writeFileSync(file, JSON.stringify({
    rank: ranks?.rank ?? 0, size: ranks?.size ?? 1, workers: trainer.workers, ppl: reports.map((r) => r.ppl), valPpl: reports.map((r) => r.valPpl), losses: steps,
    params: Array.from(model.flatParams), state: model.getState().map((s) => Array.from(s)),
    traffic: trainer.traffic,
  }));
}

if (require.main === module) {
  run(JSON.parse(process.argv[2])).then(() => mpiFinalize(), (e) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
module.exports = { corpus };
