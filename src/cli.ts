#!/usr/bin/env node
import { main } from './cli/main';

// A reader that goes away (`rnnlm info | head -4`) ends the output, not the program with a stack trace: stop
// quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
