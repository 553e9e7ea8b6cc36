#!/usr/bin/env node
import { main, stdio } from './cli/main';
import { launchedByMpi, mpiFinalize } from './distributed';
import type { Io } from './cli/io';

// A reader that goes away (`rnnlm info | head -4`) ends the output, not the program with a stack trace: stop
// quietly, as Unix tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

/**
 * Under mpirun, rank 0 speaks for the run; the other ranks print only their errors, naming themselves. A rank
 * that fails leaves without ending MPI, so that mpirun stops the others at once.
 */
function rankIo(rank: string | undefined): Io {
  if (rank === undefined || rank === '0') return stdio;
  return { out: () => {}, err: (line) => stdio.err(`[rank ${rank}] ${line}`) };
}

void main(process.argv.slice(2), rankIo(process.env.OMPI_COMM_WORLD_RANK)).then((code) => {
  if ((code === 0 || code === 130) && launchedByMpi()) mpiFinalize();
  process.exitCode = code;
});
