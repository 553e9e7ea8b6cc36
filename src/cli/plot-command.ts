import { Command } from 'commander';
import { writeFileAtomic } from '../atomic';
import { readText } from './corpus';
import { parseLog } from './history';
import { perplexitySvg } from './plot';
import type { Io } from './io';

/** `rnnlm plot run.jsonl -o ppl.svg`: the perplexity curve of a --log file. */
export function plotLog(logFile: string, out: string, io: Io): void {
  const records = parseLog(readText(logFile), logFile);
  writeFileAtomic(out, perplexitySvg(records));
  io.out(`rnnlm: wrote ${out} (${records.length} records)`);
}

export function plotCommand(run: (log: string, out: string) => void): Command {
  return new Command('plot')
    .description('Draw the perplexity curve of a training log (--log file) as SVG')
    .argument('<log>', 'a .jsonl file written by rnnlm train --log')
    .requiredOption('-o, --out <file>', 'the .svg file to write')
    .addHelpText('after', '\nExample:\n  $ rnnlm plot run.jsonl -o ppl.svg')
    .action((log: string, opts: { out: string }) => run(log, opts.out));
}
