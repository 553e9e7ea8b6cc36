/**
 * The defaults of every entry point, in one place: the book's chapter 5 seed configuration (its training script:
 * SimpleRnnlm with word vectors and hidden states of 100, batches of 10 rows x 5 steps, SGD at lr 0.1, 100 epochs)
 * and the book's eval_perplexity shape (10 x 35). `rnnlm train` with no flags, `LanguageModel`, `fit` and `SGD`
 * without options, and `evalPerplexity` all take them from here.
 */
export const DEFAULTS = {
  wordvecSize: 100,
  hiddenSize: 100,
  batchSize: 10,
  timeSize: 5,
  lr: 0.1,
  maxEpoch: 100,
  evalBatchSize: 10,
  evalTimeSize: 35,
} as const;
