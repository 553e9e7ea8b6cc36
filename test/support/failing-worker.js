'use strict';
// A worker file for tests: the real rounds, except that `step` throws (or the thread exits) and `reduce` throws on
// the chosen call, counted per thread. The engine runs slice 0 on its own thread, so with 2 workers this thread's
// serve loop gets one step call per iteration.
const path = require('node:path');
const real = require(path.join(__dirname, '..', '..', 'dist', 'parallel', 'worker.js'));
const { workerData } = require('piscina');

let calls = 0;
const step = (task, replica) => {
  calls++;
  if (calls === workerData.failOnCall) throw new Error(`injected failure on call ${calls}`);
  if (calls === workerData.exitOnCall) process.exit(3); // the thread dies
  return real.step(task, replica);
};
let reduceCalls = 0;
const reduce = (task) => {
  reduceCalls++;
  if (reduceCalls === workerData.failReduceOnCall) throw new Error(`injected block-sum failure on call ${reduceCalls}`);
  return real.reduce(task);
};
module.exports.serve = real.serveWith({ ...real.rounds, step, reduce });
