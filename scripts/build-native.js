#!/usr/bin/env node
// `npm install` / `npm ci` step: build the native addon with node-gyp. When OpenBLAS, pkg-config or a C++ compiler
// is missing, say in one message what to install and exit 0, so that installation succeeds and the pure-TypeScript
// backend works (and says so once at first use). Under CI=true the native test suites fail instead of skipping
// when the addon did not load (test/helpers.ts, REQUIRE_NATIVE).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const FIX = 'Install what is missing (Debian/Ubuntu: apt-get install -y libopenblas-dev pkg-config g++ make python3) and run `npm rebuild rnnlm` (or `npm run build:native` in this folder).';

function has(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

function warn(what) {
  const text = `\nrnnlm: the native backend was not built: ${what}. ${FIX}\nrnnlm: the js backend works without it (about 100x slower).\n\n`;
  process.stderr.write(text);
  // npm hides the output of install scripts that succeed: say it on the terminal too, when there is one.
  try {
    fs.writeFileSync('/dev/tty', text);
  } catch {
    // no terminal (CI, a pipe): the library says it again, once, at first use
  }
}

const missing = [];
if (!has('pkg-config', ['--version'])) missing.push('pkg-config');
else if (!has('pkg-config', ['--exists', 'openblas'])) missing.push('OpenBLAS (pkg-config cannot find openblas)');
if (!has(process.env.CXX || 'g++', ['--version']) && !has('c++', ['--version'])) missing.push('a C++ compiler');
if (!has('make', ['--version'])) missing.push('make');
if (missing.length > 0) {
  warn(`missing ${missing.join(', ')}`);
  process.exit(0);
}

// node-gyp: the one npm runs this script with, else a local one, else the copy bundled with npm.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && fs.existsSync(c));
}

const gyp = findNodeGyp();
if (!gyp) {
  warn('node-gyp was not found (it comes with npm)');
  process.exit(0);
}
// Build against the running Node's own headers when it has them (no header download).
const args = [gyp, 'rebuild'];
const prefix = path.resolve(path.dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.error || r.status !== 0) {
  warn(r.error ? `node-gyp could not run (${r.error.message})` : `node-gyp rebuild failed with exit code ${r.status}`);
  process.exit(0);
}
