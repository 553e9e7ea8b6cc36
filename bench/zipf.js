#!/usr/bin/env node
// A seeded synthetic corpus for the data-preparation benchmark and tests: words w0 .. w{V-1} drawn from a Zipf
// distribution (P(w_k) proportional to 1 / (k + 1)), lines of 5 to 39 words.
//   node bench/zipf.js --mb 1200 --vocab 300000 --seed 1 > big.txt
'use strict';
const { Buffer } = require('node:buffer');

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes about `bytes` bytes of text through write(Buffer) in blocks, and returns the exact count of every word and
 * of the line ends (an independent count for tests).
 */
function zipfText({ bytes, vocab = 300000, seed = 1, write, block = 1 << 20 }) {
  const rand = random(seed);
  const cdf = new Float64Array(vocab);
  let sum = 0;
  for (let k = 0; k < vocab; k++) cdf[k] = sum += 1 / (k + 1);
  for (let k = 0; k < vocab; k++) cdf[k] /= sum;
  const words = Array.from({ length: vocab }, (_, k) => Buffer.from(`w${k}`));
  const counts = new Float64Array(vocab);
  let lines = 0, written = 0;
  const buf = Buffer.allocUnsafe(block + 64 * 48);
  let fill = 0;
  while (written + fill < bytes) {
    const n = 5 + Math.floor(rand() * 35);
    for (let i = 0; i < n; i++) {
      const u = rand();
      let lo = 0, hi = vocab - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
      }
      counts[lo]++;
      if (i > 0) buf[fill++] = 32;
      fill += words[lo].copy(buf, fill);
    }
    buf[fill++] = 10;
    lines++;
    if (fill >= block) {
      write(buf.subarray(0, fill));
      written += fill;
      fill = 0;
    }
  }
  if (fill > 0) write(buf.subarray(0, fill));
  return { counts, lines, bytes: written + fill };
}

/** `n` word ids drawn from the same Zipf distribution over `vocab` words, as an Int32Array. */
function zipfIds(n, vocab, seed = 1) {
  const rand = random(seed);
  const cdf = new Float64Array(vocab);
  let sum = 0;
  for (let k = 0; k < vocab; k++) cdf[k] = sum += 1 / (k + 1);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rand() * sum;
    let lo = 0, hi = vocab - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    ids[i] = lo;
  }
  return ids;
}

module.exports = { zipfText, zipfIds, random };

if (require.main === module) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const fs = require('node:fs');
  zipfText({ bytes: arg('mb', 100) * 1e6, vocab: arg('vocab', 300000), seed: arg('seed', 1), write: (b) => fs.writeSync(1, b) });
}
