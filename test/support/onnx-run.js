'use strict';
/**
 * Runs an ONNX model with ONNX Runtime in its own process (inside jest's sandbox, onnxruntime-node's outputs fail
 * its own Float32Array check: two realms). Reads one JSON request from standard input, writes one JSON answer.
 *   { model, feeds: { name: { type: 'int64' | 'float32', dims, data } } }      -> { name: { dims, data } } for every output
 *   { model, sentences: [[id, ...], ...], eos, hidden, carry }                  -> { sums: [natural log-prob of each sentence] }
 * For sentences, each is read after <eos> and scored up to its own <eos> (as rnnlm score), the state starting at
 * zero and carried to the next sentence when `carry`.
 */
const ort = require('onnxruntime-node');

function tensor(t) {
  if (t.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(t.data.map(BigInt)), t.dims);
  return new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
}

async function main() {
  const req = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const session = await ort.InferenceSession.create(req.model);
  if (req.feeds) {
    const feeds = Object.fromEntries(Object.entries(req.feeds).map(([k, v]) => [k, tensor(v)]));
    const out = await session.run(feeds);
    const answer = { inputNames: session.inputNames, outputNames: session.outputNames };
    for (const [k, v] of Object.entries(out)) answer[k] = { dims: v.dims, data: Array.from(v.data) };
    process.stdout.write(JSON.stringify(answer));
    return;
  }
  const states = session.inputNames.filter((n) => n !== 'ids');
  const zeros = () => Object.fromEntries(states.map((n) => [n, new ort.Tensor('float32', new Float32Array(req.hidden), [1, req.hidden])]));
  let state = zeros();
  const sums = [];
  for (const s of req.sentences) {
    if (!req.carry) state = zeros();
    const input = [req.eos, ...s], target = [...s, req.eos];
    const out = await session.run({ ids: new ort.Tensor('int64', BigInt64Array.from(input.map(BigInt)), [1, input.length]), ...state });
    const V = out.log_probs.dims[2], lp = out.log_probs.data;
    sums.push(target.reduce((a, t, i) => a + lp[i * V + t], 0));
    state = Object.fromEntries(states.map((n) => [n, out[`next_${n}`]]));
  }
  process.stdout.write(JSON.stringify({ sums }));
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`);
  process.exit(1);
});
