'use strict';
// A worker file for tests: the real rounds, except that `step` throws (or the thread exits) on the chosen call,
// counted per thread. The engine runs slice 0 on its own thread, so with 2 workers this thread's serve loop gets
// one step call per iteration.
const path = require('node:path');
const real = require(path.join(__dirname, '..', '..', 'dist', 'parallel', 'worker.js'));
const { workerData } = require('piscina');

let calls = 0;
const step = (task) => {
  calls++;
  if (calls === workerData.failOnCall) throw new Error(`injected failure on call ${calls}`);
  if (calls === workerData.exitOnCall) process.exit(3); // the thread dies
  return real.step(task);
};
module.exports.serve = real.serveWith({ step, reduce: real.reduce, update: real.update });
