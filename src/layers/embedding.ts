import { resolveBackend, type Backend, type BackendName } from '../backend';
import { ensureF32, expectLength } from './buffers';

export interface LayerOptions {
  backend?: Backend | BackendName;
}

/**
 * TimeEmbedding: word ids [N,T] -> word vectors [N,T,D] by looking up rows of W [V,D].
 * params = [W], grads = [dW] (accumulated by backward). The arrays returned by forward are reused by the next call.
 */
export class TimeEmbedding {
  readonly params: Float32Array[];
  readonly grads: Float32Array[];
  readonly V: number;
  readonly D: number;
  private readonly backend: Backend;
  private idx = new Int32Array(0);
  private out?: Float32Array;
  private N = 0;
  private T = 0;

  /** W [V,D]; dW (optional) is where the gradient goes, for a model that keeps all gradients in one buffer. */
  constructor(W: Float32Array, V: number, D: number, opts: LayerOptions & { dW?: Float32Array } = {}) {
    expectLength('W', W, V * D, 'V*D');
    this.V = V;
    this.D = D;
    this.backend = resolveBackend(opts.backend);
    const dW = opts.dW ?? new Float32Array(V * D);
    expectLength('dW', dW, V * D, 'V*D');
    this.params = [W];
    this.grads = [dW];
  }

  /** xs [N,T] word ids in [0, V) -> out [N,T,D]. */
  forward(xs: Int32Array, N: number, T: number): Float32Array {
    expectLength('xs', xs, N * T, 'N*T');
    if (this.idx.length !== N * T) this.idx = new Int32Array(N * T);
    this.idx.set(xs);
    this.N = N;
    this.T = T;
    this.out = ensureF32(this.out, N * T * this.D);
    this.backend.embeddingForward(this.out, this.params[0], this.idx, N * T, this.V, this.D);
    return this.out;
  }

  /** dout [N,T,D]; adds to dW. Returns nothing: word ids have no gradient. */
  backward(dout: Float32Array): void {
    expectLength('dout', dout, this.N * this.T * this.D, 'N*T*D');
    this.backend.embeddingBackward(this.grads[0], dout, this.idx, this.N * this.T, this.V, this.D);
  }
}
