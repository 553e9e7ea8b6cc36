import { Command, CommanderError } from 'commander';
import { DataError } from '../data/ptb';
import { WeightsFormatError } from '../safetensors';
import { TrainingDivergedError, TrainingInterruptedError } from '../trainer';
import { UsageError } from './args';
import { evalCommand, evaluate } from './eval';
import { exportCommand, exportModel } from './export';
import { generate, generateCommand } from './generate';
import { infoCommand } from './info';
import { score, scoreCommand } from './score';
import { plotCommand, plotLog } from './plot-command';
import { prepare, prepareCommand } from './prepare';
import { Interrupted } from './io';
import { train, trainCommand } from './train';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require('../../package.json').version;

import type { Io } from './io';

export const stdio: Io = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Runs the command line and resolves to the exit code: 0 ok, 1 error, 2 usage. Never throws. */
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const program = new Command('rnnlm')
    .description('Recurrent neural network language models (Deep Learning from Scratch 2, chapters 5 and 6: RNN, LSTM, GRU) on Node.js')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
    })
    .showHelpAfterError('(run with --help for usage)');
  const commands = [
    prepareCommand((files, flags) => prepare(files, flags, io)),
    trainCommand((flags, explicit) => train(flags, explicit, io)),
    evalCommand((file, flags) => evaluate(file, flags, io)),
    generateCommand((file, flags) => generate(file, flags, io)),
    scoreCommand((model, file, flags) => score(model, file, flags, io)),
    exportCommand((file, flags) => exportModel(file, flags, VERSION, io)),
    plotCommand((log, out) => plotLog(log, out, io)),
    infoCommand(VERSION, io.out),
  ];
  for (const cmd of commands) {
    program.addCommand(cmd
      .exitOverride()
      .configureOutput({
        writeOut: (s) => io.out(s.replace(/\n$/, '')),
        writeErr: (s) => io.err(s.replace(/\n$/, '')),
      })
      .showHelpAfterError('(run with --help for usage)'));
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof Interrupted || e instanceof TrainingInterruptedError) {
      if (e.message !== '') io.err(`rnnlm: ${e.message}`);
      return 130;
    }
    if (e instanceof UsageError) {
      io.err(`rnnlm: ${e.message}`);
      return 2;
    }
    if (e instanceof DataError || e instanceof WeightsFormatError || e instanceof TrainingDivergedError
      || e instanceof RangeError || e instanceof TypeError || e instanceof Error) {
      io.err(`rnnlm: ${e.message}`);
      if (process.env.RNNLM_DEBUG) io.err(String(e.stack));
      return 1;
    }
    io.err(`rnnlm: ${String(e)}`);
    return 1;
  }
}
