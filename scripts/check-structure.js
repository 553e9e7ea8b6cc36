#!/usr/bin/env node
// Structure checks on src/: every function's own length (its lines less those of functions nested in it) and
// the imports that the layering forbids. Prints what breaks a rule and exits 1 when anything does.
//   node scripts/check-structure.js [--lengths]   (--lengths: every function of more than 40 lines, longest first)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const ROOT = path.join(__dirname, '..');
const MAX_LINES = 80;

/** Import rules: files under `from` may not import modules under `to`. */
const FORBIDDEN = [
  { from: ['src/trainer.ts', 'src/parallel/'], to: 'src/backend/native', why: 'threads and the backend choice stay behind the Backend interface' },
  { from: ['src/cli/'], to: 'src/layers/', why: 'the CLI speaks to models and data, not to layers' },
];

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
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

/** Every function of a file with its own line count. */
function functionLengths(file) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
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

function importsOf(file) {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out = [];
  sf.forEachChild((n) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const spec = n.moduleSpecifier.text;
      if (spec.startsWith('.')) out.push(path.relative(ROOT, path.resolve(path.dirname(file), spec)));
    }
  });
  return out;
}

function check() {
  const files = sourceFiles(path.join(ROOT, 'src'));
  const problems = [];
  const all = files.flatMap(functionLengths);
  for (const f of all) if (f.own > MAX_LINES) problems.push(`${f.file}:${f.line} ${f.name} is ${f.own} lines long (at most ${MAX_LINES})`);
  for (const file of files) {
    const rel = path.relative(ROOT, file);
    for (const rule of FORBIDDEN) {
      if (!rule.from.some((f) => rel === f || rel.startsWith(f))) continue;
      for (const imp of importsOf(file)) {
        if (imp === rule.to || imp.startsWith(rule.to)) problems.push(`${rel} imports ${imp}: ${rule.why}`);
      }
    }
  }
  return { problems, all };
}

module.exports = { check, functionLengths, MAX_LINES };

if (require.main === module) {
  const { problems, all } = check();
  if (process.argv.includes('--lengths')) {
    for (const f of all.filter((x) => x.own > 40).sort((a, b) => b.own - a.own)) console.log(`${String(f.own).padStart(4)} ${f.file}:${f.line} ${f.name}`);
  }
  for (const p of problems) console.error(p);
  process.exitCode = problems.length ? 1 : 0;
}
