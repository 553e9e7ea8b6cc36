'use strict';
/**
 * `npm run bench [-- --quick] [-- --only=A,B] [-- --out=file.json]` (options parsed by node:util parseArgs; an unknown one is refused): every workload on every backend, each case
 * in a fresh process, with the machine, thread counts and shapes printed; the sgemm peak measured in the same run;
 * with Open MPI, workloads B, D, E and G on 2 mpirun ranks too (bytes and time of the exchanges per step).
 * Results: a table on stdout and JSON in bench/results/latest.json (or --out).
 */
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { WORKLOADS } = require('./workloads');

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string', default: path.join(__dirname, 'results', 'latest.json') },
    },
  }));
} catch (e) {
  console.error(`bench: ${e.message} (options: --quick, --only=A,B, --out=file.json)`);
  process.exit(2);
}
const quick = opts.quick;
const only = opts.only ? opts.only.split(',') : Object.keys(WORKLOADS);
const out = opts.out;

function runCase(spec) {
  const line = execFileSync(process.execPath, [path.join(__dirname, 'case.js'), JSON.stringify({ ...spec, quick })], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
  });
  return JSON.parse(line.trim().split('\n').pop());
}

const info = execFileSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), 'info'], { encoding: 'utf8' });
const cores = os.availableParallelism();
console.log(`# rnnlm benchmark${quick ? ' (--quick: a moment per case, numbers are not meaningful)' : ''}`);
console.log(info.trim().split('\n').map((l) => `# ${l}`).join('\n'));
console.log(`# ${new Date().toISOString()}; each case in a fresh process; PTB_DIR=${process.env.PTB_DIR ?? '(default)'}`);

const native = !/native unavailable/.test(info);
const peak = native ? runCase({ peak: true, blasThreads: cores }) : undefined;
if (peak) console.log(`# sgemm peak: ${peak.gflops.toFixed(1)} GFLOP/s (${peak.n}^3, ${peak.blasThreads} BLAS threads)`);

const results = [];
// This kind of machine's speed drifts (190 to 303 GFLOP/s within an hour has been seen; 15% between the start and
// the end of one run), so every native case is framed by peak measurements, and its "% of peak" divides by the
// mean of the two peaks measured just before and just after it.
let lastPeak = peak;
for (const workload of only) {
  const w = WORKLOADS[workload];
  if (!w) throw new Error(`unknown workload ${workload}: expected ${Object.keys(WORKLOADS).join(', ')}`);
  for (const backend of (native ? ['js', 'native'] : ['js']).filter((b) => b !== 'js' || w.js !== false)) {
    // BLAS threads by the trainer's rule (autoBlasThreads): 1 for small models, else cores / workers.
    // Native cases in fp32 and in bf16 (--precision bf16: oneDNN's bf16 matmuls when built with it).
    for (const precision of backend === 'native' ? ['fp32', 'bf16'] : ['fp32']) {
      for (const workers of [1, 2, ...(workload === 'A' ? ['auto'] : [])]) {
        const r = runCase({ workload, backend, workers, precision });
        if (backend === 'native') {
          const next = runCase({ peak: true, blasThreads: cores });
          r.peakGflops = (lastPeak.gflops + next.gflops) / 2;
          lastPeak = next;
        }
        results.push(r);
      }
    }
  }
}

// Across processes: the trainer's step on 2 mpirun ranks of 1 worker each, beside the same workload on 1 process (the
// cases above), when the addon has MPI and mpirun is installed. As root, mpirun needs its two confirmations.
const mpiEnv = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
const mpi = native && /^mpi: Open MPI/m.test(info) && spawnSync('mpirun', ['--version'], { env: mpiEnv }).status === 0;
const ranked = [];
if (mpi) {
  for (const workload of only.filter((w) => ['B', 'D', 'E', 'G'].includes(w))) {
    const line = execFileSync('mpirun', ['-np', '2', process.execPath, path.join(__dirname, 'case.js'), JSON.stringify({ workload, backend: 'native', ranks: true, quick })],
      { encoding: 'utf8', env: mpiEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    ranked.push(JSON.parse(line.trim().split('\n').pop()));
  }
}

// rnnlm prepare on a generated Zipf text (300,000 words, lines of 5-39 words), --vocab-size 100000.
const prepareMb = quick ? 5 : 400;
const text = path.join(os.tmpdir(), `rnnlm-bench-zipf-${prepareMb}mb.txt`);
if (!fs.existsSync(text)) {
  execFileSync(process.execPath, [path.join(__dirname, 'zipf.js'), '--mb', String(prepareMb), '--vocab', '300000', '--seed', '1'],
    { stdio: ['ignore', fs.openSync(text, 'w'), 'inherit'] });
}
const prepared = (native ? ['js', 'native'] : ['js']).filter((b) => b === 'native' || quick).map((backend) => runCase({ prepare: true, backend, text }));

const peakAfter = native ? lastPeak : undefined;
if (peakAfter) {
  const framing = results.filter((r) => r.peakGflops !== undefined).map((r) => r.peakGflops);
  console.log(`# sgemm peak after the workloads: ${peakAfter.gflops.toFixed(1)} GFLOP/s; the peaks framing the native cases ` +
    `ranged ${Math.min(...framing).toFixed(1)}-${Math.max(...framing).toFixed(1)} (each case's % of peak divides by its own)`);
}

const pad = (s, n) => String(s).padStart(n);
console.log('');
console.log(`| workload | shapes (N,T,D,H,V) | backend | precision | workers | BLAS threads | ms/iter | tokens/s | GFLOP/s | peak around it | % of fp32 peak | vs js, 1 worker |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|---|---|`);
for (const r of results) {
  const js = results.find((x) => x.workload === r.workload && x.backend === 'js' && x.requested === 1);
  const workers = r.requested === 'auto' ? `auto (${r.workers})` : r.workers;
  console.log(`| ${r.workload} (${WORKLOADS[r.workload].label}) | ${r.N},${r.T},${r.D},${r.H},${r.V} | ${r.backend} | ${r.precision} | ${workers} | ` +
    `${r.backend === 'native' ? r.blasThreads : '-'} | ${pad(r.msPerIter.toFixed(r.msPerIter < 1 ? 3 : 1), 8)} | ` +
    `${pad(Math.round(r.tokensPerS), 8)} | ${pad(r.gflops.toFixed(1), 6)} | ` +
    `${r.peakGflops ? r.peakGflops.toFixed(1) : '-'} | ${r.peakGflops ? `${((100 * r.gflops) / r.peakGflops).toFixed(0)}%` : '-'} | ` +
    `${js ? `${(js.msPerIter / r.msPerIter).toFixed(1)}x` : '-'} |`);
}
if (ranked.length > 0) {
  console.log('');
  console.log('| workload | ranks x workers | BLAS threads | ms/iter | tokens/s | MB sent per step by each rank | exchange ms per step | vs 1 process, 2 workers |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of ranked) {
    const one = results.find((x) => x.workload === r.workload && x.backend === 'native' && x.precision === 'fp32' && x.requested === 2);
    console.log(`| ${r.workload} (${WORKLOADS[r.workload].label}) | ${r.ranks} x 1 | ${r.blasThreads} | ${pad(r.msPerIter.toFixed(1), 6)} | ` +
      `${pad(Math.round(r.tokensPerS), 8)} | ${(r.bytesPerStep / 1e6).toFixed(3)} | ${r.exchangeMsPerStep.toFixed(2)} | ` +
      `${one ? `${(one.msPerIter / r.msPerIter).toFixed(2)}x` : '-'} |`);
  }
}
console.log('');
console.log('| rnnlm prepare (Zipf text, --vocab-size 100000) | backend | MB | tokens | seconds | MB/s | peak RSS (MB) |');
console.log('|---|---|---|---|---|---|---|');
for (const p of prepared) {
  console.log(`| ${path.basename(text)} | ${p.backend} | ${p.mb.toFixed(0)} | ${p.tokens} | ${p.seconds.toFixed(2)} | ${p.mbPerS.toFixed(0)} | ${p.maxRssMb.toFixed(0)} |`);
}
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), quick, info: info.trim().split('\n'), peak, peakAfter, results, ranked, prepared }, null, 2) + '\n');
console.log(`\nresults: ${out}`);
