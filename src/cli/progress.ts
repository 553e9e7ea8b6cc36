/**
 * Training progress: on a terminal, a progress bar (cli-progress) with epoch, iteration, running perplexity,
 * tokens/s and ETA; otherwise plain `| epoch N | iter i / n | time Xs | perplexity P |` lines at every report.
 */
import { SingleBar } from 'cli-progress';
import type { IterationReport } from '../trainer';

export interface Progress {
  /** Every iteration. */
  step(p: { epoch: number; iter: number; iters: number; loss: number }, tokensPerIter: number): void;
  /** Every --eval-interval report. */
  report(r: IterationReport): void;
  /** A line that must stay on screen (epoch summaries, notices). */
  line(text: string): void;
  stop(): void;
}

export function plainProgress(out: (line: string) => void): Progress {
  return {
    step: () => undefined,
    report: (r) => out(`| epoch ${r.epoch} | iter ${r.iter} / ${r.iters} | time ${Math.floor(r.elapsedS)}s | perplexity ${r.ppl.toFixed(2)} |`),
    line: out,
    stop: () => undefined,
  };
}

export function barProgress(maxEpoch: number, stream: NodeJS.WriteStream = process.stdout): Progress {
  let bar: SingleBar | undefined;
  let epoch = 0, lossSum = 0, count = 0, t0 = 0;
  const stopBar = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    step(p, tokensPerIter) {
      if (p.epoch !== epoch || !bar) {
        stopBar();
        epoch = p.epoch;
        lossSum = 0;
        count = 0;
        t0 = performance.now();
        bar = new SingleBar({
          stream, clearOnComplete: true, hideCursor: true, fps: 5, etaBuffer: 50,
          format: `epoch {epoch}/${maxEpoch} {bar} iter {value}/{total} | perplexity {ppl} | {tps} tokens/s | ETA {eta_formatted}`,
        });
        bar.start(p.iters, p.iter - 1, { epoch: p.epoch, ppl: '-', tps: '-' });
      }
      lossSum += p.loss;
      count++;
      const seconds = (performance.now() - t0) / 1000;
      bar.update(p.iter, {
        ppl: Math.exp(lossSum / count).toFixed(2),
        tps: seconds > 0 ? Math.round((count * tokensPerIter) / seconds) : '-',
      });
    },
    report: () => undefined,
    line(text) {
      stopBar();
      stream.write(text + '\n');
    },
    stop: stopBar,
  };
}
