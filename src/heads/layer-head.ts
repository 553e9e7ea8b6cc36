/** A layer with the book's loss-layer pair: forward to the mean loss, backward(dout) to the input's gradient. */
export interface LossLayer {
  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number;
  backward(dout: number): Float32Array;
}

/** A head that is one such layer: its training step is the layer's forward, then backward(scale). */
export abstract class LayerHead<L extends LossLayer> {
  constructor(readonly layer: L) {}

  forward(h: Float32Array, ts: Int32Array, N: number, T: number): number {
    return this.layer.forward(h, ts, N, T);
  }

  backward(dout: number): Float32Array {
    return this.layer.backward(dout);
  }

  lossAndGrad(h: Float32Array, ts: Int32Array, N: number, T: number, scale: number): { loss: number; dh: Float32Array } {
    return { loss: this.layer.forward(h, ts, N, T), dh: this.layer.backward(scale) };
  }
}
