/**
 * rnnlm: the recurrent language models of Deep Learning from Scratch 2 (chapters 5 and 6) on Node.js.
 * Data flows: token ids -> BatchCutter -> a StepExecutor's forwardBackward (LanguageModel: TimeEmbedding ->
 * [TimeDropout -> TimeRNN | TimeLSTM | TimeGRU] x layers -> TimeDropout -> the output head, then backward) ->
 * clipScale of the gradient's norm -> SGD.step, which the executor applies where the gradient lives.
 */
export type { Backend } from './backend/types';
export {
  jsBackend, jsBf16Backend, resolveBackend, roundBf16, nativeUnavailableReason, BACKEND_NAMES, PRECISIONS, type BackendName, type Precision,
} from './backend';
export { TimeEmbedding, type LayerOptions } from './layers/embedding';
export { TimeRecurrent, TimeRNN, TimeLSTM, TimeGRU, RNN, type RecurrentWeights, type RecurrentOptions } from './layers/recurrent';
export { TimeDropout, type DropoutKey } from './layers/dropout';
export { TimeAffine } from './layers/affine';
export { TimeSoftmaxWithLoss, IGNORE_LABEL } from './layers/softmax';
export { TimeClassSoftmaxWithLoss, checkClassBounds } from './layers/class-softmax';
export {
  frequencyClasses, frequencyOrder, wordCounts, exchangeClasses, classBigramObjective, classNumbering, wordClasses, CLASS_METHODS, type ClassMethod,
} from './data/classes';
export { TimeSampledSoftmaxWithLoss, AliasTable, type SampleKey } from './layers/sampled-softmax';
export {
  LanguageModel, SimpleRnnlm, Rnnlm, BetterRnnlm, modelConfig, paramTable, stateTable, iterationFlops, CELL_TYPES,
  WEIGHT_INITS, OUTPUT_TYPES, type OutputType, type NoiseConfig, type WeightInit, type ModelConfig, type CellType, type ParamSpec, type ModelOptions, type StepKey,
} from './model';
export { DEFAULTS } from './defaults';
export { SGD, clipGrads, clipScale, sgdStep, type ParamUpdate, type GradientHolder } from './optimizer';
export { SerialExecutor, batchRows, countTargets, type StepExecutor, type WholeBatch, type Traffic } from './executor';
export { MpiExecutor, mpiWorld, mpiFinalize, launchedByMpi } from './distributed';
export { rankCores, processShare, checkSameOnRanks, type Communicator } from './ranks';
export { HEADS, headKind, FullHead, ClassHead, SampledHead, TreeHead, type HeadKind, type OutputHead, type HeadSplit, type HeadKey } from './heads';
export { PlateauSchedule, type PlateauOptions, type PlateauDecision } from './schedule';
export { GradientSupport } from './gradient';
export { WORKER_FILE, autoWorkers, autoBlasThreads, AUTO_MIN_FLOPS, AUTO_WORKERS_MIN_FLOPS, ParallelEngine, WorkerError, type WorkerPool, type ParallelOptions } from './parallel/engine';
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
  saveWeights, readWeights, parseWeights, weightsFromSafetensors, modelTensors, weightsToBytes, loadWeightsInto, modelFromWeights,
  architectureMetadata, WEIGHTS_FORMAT, type Weights,
} from './weights';
export { writeFileAtomic } from './atomic';
export { scoreSentences, type ScoreOptions } from './scorer';
export { exportOnnx, ONNX_OPSET, type OnnxExportOptions } from './onnx';
export { Random } from './random';
