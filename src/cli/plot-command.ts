import * as fs from 'node:fs';
import { Command } from 'commander';
import { writeFileAtomic } from '../atomic';
import { DataError } from '../data/ptb';
import { parseLog } from './history';
import { perplexitySvg } from './plot';
import type { Io } from './train';

/** `rnnlm plot run.jsonl -o ppl.svg`: the perplexity curve of a --log file. */
export function plotLog(logFile: string, out: string, io: Io): void {
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read ${logFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const records = parseLog(text, logFile);
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
