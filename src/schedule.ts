/**
 * The learning-rate schedule and early stop that follow each epoch's validation, as Mikolov's rnnlm runs them
 * (PyTorch's ReduceLROnPlateau is the same idea): while validation improves enough, the rate stays; when it does
 * not, the rate is divided by `lrDecay`; when it still does not after that, the run stops (`earlyStop`). The best
 * validation perplexity is tracked for keeping the best weights.
 */
export interface PlateauOptions {
  /** Divide the learning rate by this (> 1) when validation did not improve enough; undefined: never. */
  lrDecay?: number;
  /** Improving enough: the best perplexity so far over the new one exceeds this ratio (default 1: any improvement). */
  minImprovement?: number;
  /** Stop when validation does not improve enough after the rate was decayed (at once, without lrDecay). */
  earlyStop?: boolean;
}

/** What to do after an epoch. */
export interface PlateauDecision {
  /** The perplexity is the best so far (lower at all): keep these weights. */
  best: boolean;
  /** The learning rate for the next epoch. */
  lr: number;
  /** End the run here. */
  stop: boolean;
}

export class PlateauSchedule {
  /** The best validation perplexity so far. */
  best?: number;
  /** Whether the rate has been decayed in this run. */
  decayed: boolean;

  constructor(readonly opts: PlateauOptions = {}, state: { best?: number; decayed?: boolean } = {}) {
    if (opts.lrDecay !== undefined && !(opts.lrDecay > 1)) throw new RangeError(`Expected lrDecay greater than 1 but received ${opts.lrDecay}`);
    if (opts.minImprovement !== undefined && !(opts.minImprovement >= 1)) {
      throw new RangeError(`Expected minImprovement of at least 1 but received ${opts.minImprovement}`);
    }
    this.best = state.best;
    this.decayed = state.decayed ?? false;
  }

  /** Takes an epoch's validation perplexity and the learning rate the epoch trained with. */
  observe(valPpl: number, lr: number): PlateauDecision {
    const { lrDecay, minImprovement = 1, earlyStop = false } = this.opts;
    const enough = this.best === undefined || valPpl * minImprovement < this.best;
    const best = this.best === undefined || valPpl < this.best;
    if (best) this.best = valPpl;
    if (enough) return { best, lr, stop: false };
    if (earlyStop && (this.decayed || lrDecay === undefined)) return { best, lr, stop: true };
    if (lrDecay === undefined) return { best, lr, stop: false };
    this.decayed = true;
    return { best, lr: lr / lrDecay, stop: false };
  }
}
