/**
 * rnnlm: the SimpleRnnlm of Deep Learning from Scratch 2 (chapter 5) on Node.js.
 * Data flows: token ids -> BatchCutter -> SimpleRnnlm.forward (TimeEmbedding -> TimeRNN -> TimeAffine ->
 * TimeSoftmaxWithLoss) -> backward -> clipGrads -> SGD.update.
 */
export type { Backend } from './backend/types';
export { jsBackend, resolveBackend, nativeUnavailableReason, BACKEND_NAMES, type BackendName } from './backend';
export { TimeEmbedding, type LayerOptions } from './layers/embedding';
export { TimeRNN, RNN, type RnnWeights } from './layers/rnn';
export { TimeAffine } from './layers/affine';
export { TimeSoftmaxWithLoss, IGNORE_LABEL } from './layers/softmax';
export { SimpleRnnlm, PARAM_NAMES, paramSpecs, type ParamName, type ParamSpec, type SimpleRnnlmOptions } from './model';
export { SGD, clipGrads } from './optimizer';
export { WORKER_FILE, autoWorkers, autoBlasThreads, iterationFlops, AUTO_MIN_FLOPS, ParallelEngine, WorkerError, type WorkerPool, type ParallelOptions } from './parallel/engine';
export {
  nativeInfo, getBlasThreads, setBlasThreads, chooseCoretype, type NativeInfo, type CoretypeChoice,
} from './backend/native';
export {
  RnnlmTrainer, BatchCutter, evalPerplexity, TrainingDivergedError, TrainingInterruptedError,
  type FitOptions, type IterationReport, type EpochReport,
} from './trainer';
export {
  loadPtb, readPtbFile, tokenize, buildVocab, toIds, ptbCacheDir, ptbDir, DataError, EOS, PTB_FILES, PTB_SPLITS,
  type Corpus, type PtbSplit, type PtbOptions,
} from './data/ptb';
export { parseSafetensors, serializeSafetensors, WeightsFormatError, type Tensor, type SafetensorsFile } from './safetensors';
export {
  saveWeights, readWeights, parseWeights, weightsFromSafetensors, modelTensors, weightsToBytes, loadWeightsInto, modelFromWeights, type Weights,
} from './weights';
export { writeFileAtomic } from './atomic';
export { Random } from './random';
