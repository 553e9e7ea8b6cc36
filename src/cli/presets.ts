/**
 * The recipes `rnnlm train --preset NAME` names: the book's and PyTorch's word_language_model's. A preset sets run
 * options a preset may set (RunOption.noPreset says which may not); flags given on the command line override it.
 */
import type { PresetKey, RunFlags } from '../run-options';

/** The options a preset sets: run options it may set, and the heads' options. */
export type PresetFlags = Partial<Pick<RunFlags, PresetKey>> & { readonly [headOption: string]: unknown };

/** The book's recipes (and PyTorch's word_language_model example): flags given explicitly override them. */
export const PRESETS = {
  ch5: {
    about: "the book's chapter 5 seed configuration: SimpleRnnlm 100/100 on the first 1000 PTB tokens, 100 epochs (the default)",
    flags: { model: 'rnn', numLayers: 1, dropout: 0, tied: false, corpusSize: 1000, batchSize: 10, timeSize: 5, wordvecSize: 100, hiddenSize: 100, lr: 0.1, maxEpoch: 100 },
  },
  ch6: {
    about: "the book's chapter 6 Rnnlm: LSTM 100/100, whole PTB, batch 20 x 35, lr 20, clip 0.25, 4 epochs",
    flags: { model: 'lstm', numLayers: 1, dropout: 0, tied: false, corpusSize: 0, batchSize: 20, timeSize: 35, wordvecSize: 100, hiddenSize: 100, lr: 20, maxGrad: 0.25, maxEpoch: 4, valid: true },
  },
  'ch6-better': {
    about: "the book's chapter 6 BetterRnnlm: 2-layer LSTM 650/650, dropout 0.5, tied weights, lr 20 / 4 when validation worsens, 40 epochs",
    flags: { model: 'lstm', numLayers: 2, dropout: 0.5, tied: true, corpusSize: 0, batchSize: 20, timeSize: 35, wordvecSize: 650, hiddenSize: 650, lr: 20, maxGrad: 0.25, maxEpoch: 40, valid: true, lrDecay: 4 },
  },
  'rnn-ptb': {
    about: "the plain tanh RNN 100/100 with the full softmax on all of PTB: PyTorch's initialisation, lr 4, clip 0.25, lr / 2 when validation improves by less than 0.3% (Mikolov's rule), 20 epochs",
    flags: { model: 'rnn', numLayers: 1, dropout: 0, tied: false, corpusSize: 0, batchSize: 20, timeSize: 35, wordvecSize: 100, hiddenSize: 100, weightInit: 'pytorch', lr: 4, maxGrad: 0.25, maxEpoch: 20, valid: true, lrDecay: 2, minImprovement: 1.003 },
  },
  'rnn-ptb-fast': {
    about: 'the plain tanh RNN 100/100 with the class output (100 exchange classes) on all of PTB: batch 64 x 35, dropout 0.1, lr 6, clip 0.25, lr / 2 when validation improves by less than 0.3%, 25 epochs',
    flags: {
      model: 'rnn', numLayers: 1, dropout: 0.1, tied: false, corpusSize: 0, batchSize: 64, timeSize: 35, wordvecSize: 100, hiddenSize: 100,
      weightInit: 'pytorch', lr: 6, maxGrad: 0.25, maxEpoch: 25, valid: true, lrDecay: 2, minImprovement: 1.003, output: 'class',
      classMethod: 'exchange',
    },
  },
  pytorch: {
    about: "PyTorch's word_language_model example: 2-layer LSTM 200/200, dropout 0.2, lr 20 / 4 when validation does not improve, 6 epochs (add --tied)",
    flags: { model: 'lstm', numLayers: 2, dropout: 0.2, tied: false, corpusSize: 0, batchSize: 20, timeSize: 35, wordvecSize: 200, hiddenSize: 200, lr: 20, maxGrad: 0.25, maxEpoch: 6, valid: true, lrDecay: 4 },
  },
} as const satisfies Record<string, { about: string; flags: PresetFlags }>;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
