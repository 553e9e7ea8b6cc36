/**
 * The reference fixtures of an independent NumPy implementation (../shared/fixtures): loss, recurrent state after
 * each forward, every gradient and the SGD result of two stateful iterations, within 1e-5, on every backend.
 * tiny-rnnlm.json is the chapter-5 SimpleRnnlm (tensor names of the first weights format); tiny-lstm.json,
 * tiny-lstm2-tied.json and tiny-gru.json are chapter 6 (1-layer LSTM, 2-layer tied LSTM, 1-layer GRU).
 */
import { LanguageModel, SGD, type CellType } from '../src';
import { backends, expectClose, flat, readFixture } from './helpers';

interface Step {
  xs: number[][]; ts: number[][]; loss: number; grads: Record<string, unknown>;
  h_after?: number[][]; state_after?: number[][][][];
}
interface Fixture {
  cell?: CellType; layers?: number; tied?: boolean;
  dims: { V: number; D: number; H: number; N: number; T: number };
  lr: number;
  init: Record<string, unknown>;
  steps: Step[];
  params_after: Record<string, unknown>;
}

const TOL = 1e-5;
/** The first weights format named the RNN's tensors without a layer index. */
const fixtureName = (name: string): string => name.replace(/^rnn\.0\./, 'rnn.');

const FIXTURES = ['tiny-rnnlm.json', 'tiny-lstm.json', 'tiny-lstm2-tied.json', 'tiny-gru.json'];

describe.each(backends().map((b) => [b.name, b] as const))('reference fixtures on %s', (_name, backend) => {
  it.each(FIXTURES)('%s: loss, state, every gradient and the SGD result of two stateful iterations', (file) => {
    const fx = readFixture<Fixture>(file);
    const { V, D, H, N, T } = fx.dims;
    const model = new LanguageModel({
      cell: fx.cell ?? 'rnn', layers: fx.layers ?? 1, tied: fx.tied ?? false, vocabSize: V, wordvecSize: D, hiddenSize: H,
    }, { backend });
    // Every tensor of the model comes from the fixture, and the fixture has no tensor the model lacks.
    expect(model.specs.map((s) => fixtureName(s.name)).sort()).toEqual(Object.keys(fx.init).sort());
    for (const s of model.specs) model.param(s.name).set(flat(fx.init[fixtureName(s.name)]));
    const sgd = new SGD(fx.lr, { backend });
    fx.steps.forEach((step, k) => {
      model.zeroGrads();
      const loss = model.forward(Int32Array.from(flat(step.xs)), Int32Array.from(flat(step.ts)), N, T);
      expectClose(`step ${k} loss`, [loss], [step.loss], TOL);
      const state = model.getState()!;
      const expected = step.state_after ? step.state_after.flatMap((layer) => layer.map(flat)) : [flat(step.h_after)];
      expect(state).toHaveLength(expected.length);
      state.forEach((s, i) => expectClose(`step ${k} ${model.stateNames[i]}`, s, expected[i], TOL));
      model.backward();
      for (const s of model.specs) expectClose(`step ${k} grad ${s.name}`, model.grad(s.name), flat(step.grads[fixtureName(s.name)]), TOL);
      sgd.update(model.params, model.grads);
    });
    for (const s of model.specs) expectClose(`params_after ${s.name}`, model.param(s.name), flat(fx.params_after[fixtureName(s.name)]), TOL);
  });
});
