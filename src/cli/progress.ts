/**
 * Training progress: on a terminal, a progress bar (cli-progress) with epoch, iteration, running perplexity,
 * tokens/s and ETA, the bar shrunk to fit the terminal's width; otherwise plain `| epoch N | iter i / n | time Xs | perplexity P |` lines at every report.
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
    report: (r) => out(`| epoch ${r.epoch} | iter ${r.iter} / ${r.iters} | time ${Math.floor(r.elapsedS)}s | perplexity ${r.ppl.toFixed(2)} | ` +
      `lr ${Number(r.lr.toPrecision(6))} | ${r.msPerIter.toFixed(r.msPerIter < 10 ? 2 : 1)} ms/iter | ${Math.round(r.tokensPerS)} tokens/s |`),
    line: out,
    stop: () => undefined,
  };
}

/** What the bar line needs besides the bar itself, at the widest its numbers get. */
export function barFormat(maxEpoch: number, iters: number, columns: number): { format: string; barsize: number } {
  const format = `epoch {epoch}/${maxEpoch} {bar} {value}/{total} | ppl {ppl} | {tps} tok/s | ETA {eta_formatted}`;
  const widest = format.replace('{bar} ', '').replace('{epoch}', String(maxEpoch)).replace('{value}', String(iters))
    .replace('{total}', String(iters)).replace('{ppl}', '99999.99').replace('{tps}', '9999999').replace('{eta_formatted}', '59m59s');
  // Shrink the bar, never the numbers: the line stays one character short of the terminal's width.
  return { format, barsize: Math.max(4, Math.min(40, columns - widest.length - 2)) };
}

export function barProgress(maxEpoch: number, stream: { columns?: number; write(s: string): boolean } & NodeJS.WritableStream = process.stdout): Progress {
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
        const { format, barsize } = barFormat(maxEpoch, p.iters, stream.columns ?? 80);
        bar = new SingleBar({
          stream: stream as NodeJS.WriteStream, clearOnComplete: true, hideCursor: true, fps: 5, etaBuffer: 50, format, barsize,
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
