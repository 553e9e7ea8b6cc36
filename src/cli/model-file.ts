/** A trained model and its vocabulary, as `eval` and `generate` read them from a weights file. */
import type { Backend } from '../backend';
import { loadPtb } from '../data/ptb';
import type { LanguageModel } from '../model';
import { modelFromWeights, readWeights } from '../weights';
import { UsageError } from './args';

export async function loadModelFile(file: string, backend: Backend, dataDir?: string): Promise<{ model: LanguageModel; vocab: string[] }> {
  const w = readWeights(file);
  const model = modelFromWeights(w, { backend }, file);
  if (w.vocab) return { model, vocab: w.vocab };
  // Weights without a vocabulary (e.g. made elsewhere): PTB's, when the sizes agree.
  const ptb = await loadPtb('train', { dir: dataDir });
  if (w.vocabSize > ptb.idToWord.length) {
    throw new UsageError(`${file} has no vocabulary and ${w.vocabSize} words, more than Penn Treebank's ${ptb.idToWord.length}`);
  }
  return { model, vocab: ptb.idToWord.slice(0, w.vocabSize) };
}
