'use strict';
/**
 * The benchmark workloads: the trainer's training iteration (batch -> forward -> backward -> clipping norm -> SGD,
 * which zeroes the gradient for the next one) on every backend. GFLOP/s counts the matrix products as the model counts them (model.flops: per recurrent layer
 * 6*N*T*(in + H)*G*H with G gates, plus 6*N*T*H*V for the output layer, or 6*N*T*H*(C + V/C) for the class output:
 * the in-class products counted at the mean class size). `classes` numbers the words by frequency and cuts them
 * into that many frequency classes, as `rnnlm train --output class` does; `noiseSamples` draws that many noise words
 * per iteration from the training unigram^0.75, as `rnnlm train --output sampled` does (FLOPs 6*N*T*H*(k+1)).
 * `js: false` skips the pure-TypeScript backend where one iteration takes tens of seconds (D measures it for LSTMs).
 * `zipf` trains on 4M ids drawn from a Zipf distribution over that many words (bench/zipf.js) instead of PTB: I and
 * J are the same model and batch on 10,000 and 100,000 words, each with the default sqrt(V) frequency classes; K is J
 * with the tree output (a hierarchical softmax over a Huffman tree of the words' counts; FLOPs counted at log2 V).
 */
const WORKLOADS = {
  A: { label: 'seed config', corpusSize: 1000, N: 10, T: 5, model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100 } },
  B: { label: 'full PTB, RNN H=100', corpusSize: 0, N: 20, T: 35, model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100 } },
  C: { label: 'full PTB, RNN H=650', corpusSize: 0, N: 20, T: 35, model: { cell: 'rnn', wordvecSize: 650, hiddenSize: 650 } },
  D: { label: 'ch6 Rnnlm, LSTM 100', corpusSize: 0, N: 20, T: 35, model: { cell: 'lstm', wordvecSize: 100, hiddenSize: 100 } },
  E: {
    label: '2-layer tied LSTM 200, dropout 0.2', corpusSize: 0, N: 20, T: 35, js: false,
    model: { cell: 'lstm', layers: 2, wordvecSize: 200, hiddenSize: 200, dropout: 0.2, tied: true },
  },
  F: {
    label: 'BetterRnnlm, LSTM 2x650', corpusSize: 0, N: 20, T: 35, js: false,
    model: { cell: 'lstm', layers: 2, wordvecSize: 650, hiddenSize: 650, dropout: 0.5, tied: true },
  },
  G: {
    label: 'B with class output (100 frequency classes)', corpusSize: 0, N: 20, T: 35, classes: 100,
    model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100, output: 'class' },
  },
  H: {
    label: 'B with sampled softmax (1024 noise words)', corpusSize: 0, N: 20, T: 35, noiseSamples: 1024,
    model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100, output: 'sampled' },
  },
  I: {
    label: 'RNN 100, class output, batch 64 x 35, PTB (10k words, 100 classes)', corpusSize: 0, N: 64, T: 35, classes: 100,
    model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100, output: 'class' },
  },
  J: {
    label: 'I on a 100k-word Zipf vocabulary (316 classes)', zipf: 100000, N: 64, T: 35, classes: 316, js: false,
    model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100, output: 'class' },
  },
  K: {
    label: 'J with the tree output', zipf: 100000, N: 64, T: 35, tree: true, js: false,
    model: { cell: 'rnn', wordvecSize: 100, hiddenSize: 100, output: 'tree' },
  },
};

module.exports = { WORKLOADS };
