'use strict';
/**
 * The benchmark workloads (issue #3): the same training iteration (batch -> forward -> backward -> SGD) on every
 * backend. GFLOP/s counts the matrix products (rnnlm's iterationFlops: 6*N*T*H*(D + H + V)).
 */
const WORKLOADS = {
  A: { label: 'seed config', corpusSize: 1000, N: 10, T: 5, D: 100, H: 100 },
  B: { label: 'full PTB, H=100', corpusSize: 0, N: 20, T: 35, D: 100, H: 100 },
  C: { label: 'full PTB, H=650', corpusSize: 0, N: 20, T: 35, D: 650, H: 650 },
};

module.exports = { WORKLOADS };
