import { SimpleRnnlm, PARAM_NAMES, SGD } from '../src';
import { backends, expectClose, flat, readFixture } from './helpers';

interface Step {
  xs: number[][]; ts: number[][]; loss: number; h_after: number[][]; grads: Record<string, unknown>;
}
interface Tiny {
  dims: { V: number; D: number; H: number; N: number; T: number };
  lr: number;
  init: Record<string, unknown>;
  steps: Step[];
  params_after: Record<string, unknown>;
}

const tiny = readFixture<Tiny>('tiny-rnnlm.json');
const TOL = 1e-5;

describe.each(backends().map((b) => [b.name, b] as const))('tiny-rnnlm.json fixture on %s', (_name, backend) => {
  it('reproduces loss, hidden state, every gradient and the SGD result of two stateful iterations', () => {
    const { V, D, H, N, T } = tiny.dims;
    const model = new SimpleRnnlm(V, D, H, { backend });
    for (const name of PARAM_NAMES) model.param(name).set(flat(tiny.init[name]));
    const sgd = new SGD(tiny.lr, { backend });
    tiny.steps.forEach((step, k) => {
      const loss = model.forward(Int32Array.from(flat(step.xs)), Int32Array.from(flat(step.ts)), N, T);
      expectClose(`step ${k} loss`, [loss], [step.loss], TOL);
      expectClose(`step ${k} h_after`, model.rnn.h!, flat(step.h_after), TOL);
      model.backward();
      for (const name of PARAM_NAMES) expectClose(`step ${k} grad ${name}`, model.grad(name), flat(step.grads[name]), TOL);
      sgd.update(model.params, model.grads);
    });
    for (const name of PARAM_NAMES) expectClose(`params_after ${name}`, model.param(name), flat(tiny.params_after[name]), TOL);
  });

});
