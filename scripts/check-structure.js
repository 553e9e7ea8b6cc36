#!/usr/bin/env node
// Structure checks on src/ and native/: every function's own length (TypeScript: its lines less those of the
// functions nested in it; C++: its whole body), the imports that the layering forbids, no import circle (type
// imports included), no module-level `let` or `var` in src/, and no branch on an output head's name outside the
// heads (src/heads/) nor on a cell's outside the cell table (src/cells.ts). Prints what breaks a rule and exits 1 when anything does.
//   node scripts/check-structure.js [--lengths]   (--lengths: every function of more than 40 lines, longest first)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');
const { cppFunctions } = require('./cpp-functions');

const ROOT = path.join(__dirname, '..');
const MAX_LINES = 80;

/** Import rules: files under `from` may not import modules under `to`. */
const FORBIDDEN = [
  { from: ['src/trainer.ts', 'src/parallel/'], to: 'src/backend/native', why: 'threads and the backend choice stay behind the Backend interface' },
  { from: ['src/trainer.ts'], to: 'src/distributed', why: 'the trainer is handed its executor and process group; it does not make them' },
  { from: ['src/cli/'], to: 'src/layers/', why: 'the CLI speaks to models and data, not to layers' },
];

function sourceFiles(dir, ext) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p, ext) : ext.some((x) => e.name.endsWith(x)) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const isFunction = (n) => ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) ||
  ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n);

function functionName(n, sf) {
  if (n.name) return n.name.getText(sf);
  if (ts.isConstructorDeclaration(n)) return 'constructor';
  const p = n.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf);
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  if (p && ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  return '(anonymous)';
}

const parse = (file) => ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);

/** Every function of a file with its own line count. */
function functionLengths(file) {
  const sf = parse(file);
  const out = [];
  const lines = (n) => sf.getLineAndCharacterOfPosition(n.getEnd()).line - sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const visit = (node, owner) => {
    if (isFunction(node) && node.body) {
      const entry = { file: path.relative(ROOT, file), name: functionName(node, sf), line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, own: lines(node) };
      if (owner) owner.own -= entry.own;
      out.push(entry);
      ts.forEachChild(node, (c) => visit(c, entry));
    } else {
      ts.forEachChild(node, (c) => visit(c, owner));
    }
  };
  visit(sf, undefined);
  return out;
}

/** The project files a file imports (type imports included), as paths relative to the project. */
function importsOf(file) {
  const out = [];
  parse(file).forEachChild((n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const spec = n.moduleSpecifier.text;
      if (!spec.startsWith('.')) return;
      const base = path.resolve(path.dirname(file), spec);
      const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f)) ?? base;
      out.push(path.relative(ROOT, target));
    }
  });
  return out;
}

/** Every import circle of the graph, each once, as the list of its files. */
function importCircles(graph) {
  const state = new Map();
  const stack = [];
  const circles = new Map();
  const visit = (f) => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') {
        const circle = stack.slice(stack.indexOf(g));
        const key = [...circle].sort().join(' ');
        if (!circles.has(key)) circles.set(key, [...circle, g]);
      } else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return [...circles.values()];
}

/** Module-level `let` and `var` statements: state every importer shares. */
function moduleLets(file) {
  const sf = parse(file);
  return sf.statements.filter((s) => ts.isVariableStatement(s) && !(s.declarationList.flags & ts.NodeFlags.Const))
    .map((s) => ({ line: sf.getLineAndCharacterOfPosition(s.getStart(sf)).line + 1, text: s.declarationList.declarations.map((d) => d.name.getText(sf)).join(', ') }));
}

/** The output heads' names, read from their modules in src/heads/ (`name: '...'`). */
function headNames() {
  return sourceFiles(path.join(ROOT, 'src', 'heads'), ['.ts']).flatMap((f) => {
    const m = /^\s*name: '(\w+)',$/m.exec(fs.readFileSync(f, 'utf8'));
    return m ? [m[1]] : [];
  });
}

/** The cells' names, read from the cell table (`name: {` at the top of CELLS in src/cells.ts). */
function cellNames() {
  const text = fs.readFileSync(path.join(ROOT, 'src', 'cells.ts'), 'utf8');
  const table = text.slice(text.indexOf('export const CELLS'));
  return [...table.matchAll(/^ {2}(\w+): \{$/gm)].map((m) => m[1]);
}

/**
 * Lines that compare something with one of `names` (or list them to test membership) in files outside `home`: the
 * table there should answer instead (headBranches: the heads; the cells likewise).
 */
function headBranches(files, names, home = path.join('src', 'heads')) {
  const name = `'(?:${names.join('|')})'`;
  const branch = new RegExp(`[!=]==\\s*${name}|${name}\\s*[!=]==|case\\s+${name}|\\[${name}(?:,\\s*${name})*\\]\\.includes`);
  return files.filter((f) => !path.relative(ROOT, f).startsWith(home))
    .flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').flatMap((l, i) => (branch.test(l) ? [`${path.relative(ROOT, f)}:${i + 1}`] : [])));
}

function check() {
  const files = sourceFiles(path.join(ROOT, 'src'), ['.ts']);
  const problems = [];
  const all = files.flatMap(functionLengths);
  for (const f of all) if (f.own > MAX_LINES) problems.push(`${f.file}:${f.line} ${f.name} is ${f.own} lines long (at most ${MAX_LINES})`);
  const native = sourceFiles(path.join(ROOT, 'native'), ['.cc', '.h']).flatMap((f) => cppFunctions(f).map((x) => ({ ...x, file: path.relative(ROOT, f), own: x.lines })));
  for (const f of native) if (f.own > MAX_LINES) problems.push(`${f.file}:${f.line} ${f.name} is ${f.own} lines long (at most ${MAX_LINES})`);
  const graph = new Map(files.map((f) => [path.relative(ROOT, f), importsOf(f)]));
  for (const [rel, imports] of graph) {
    for (const rule of FORBIDDEN) {
      if (!rule.from.some((f) => rel === f || rel.startsWith(f))) continue;
      for (const imp of imports) if (imp === rule.to || imp.startsWith(rule.to)) problems.push(`${rel} imports ${imp}: ${rule.why}`);
    }
  }
  for (const circle of importCircles(graph)) problems.push(`import circle: ${circle.join(' -> ')}`);
  for (const file of files) {
    for (const l of moduleLets(file)) problems.push(`${path.relative(ROOT, file)}:${l.line} module-level state '${l.text}': keep it in an object that owns it`);
  }
  const names = headNames();
  for (const at of headBranches(files, names)) problems.push(`${at} branches on an output head's name: ask the head table (src/heads/)`);
  const cells = cellNames();
  for (const at of headBranches(files, cells, path.join('src', 'cells.ts'))) problems.push(`${at} branches on a cell's name: ask the cell table (src/cells.ts)`);
  return { problems, all, native, heads: names, cells };
}

module.exports = { check, functionLengths, importCircles, headBranches, MAX_LINES };

if (require.main === module) {
  const { problems, all, native } = check();
  if (process.argv.includes('--lengths')) {
    for (const f of [...all, ...native].filter((x) => x.own > 40).sort((a, b) => b.own - a.own)) console.log(`${String(f.own).padStart(4)} ${f.file}:${f.line} ${f.name}`);
  }
  for (const p of problems) console.error(p);
  process.exitCode = problems.length ? 1 : 0;
}
