/**
 * The layering and size rules of src/ and native/, checked on the code itself (scripts/check-structure.js): no
 * function longer than 80 lines of its own (C++: of its body), the trainer and the parallel engine never reach past
 * the Backend interface to the native addon, the trainer never makes its process group, the CLI never imports a
 * layer, no import circle, no module-level `let`, and no branch on an output head's name outside src/heads/ (nor on a
 * cell's outside src/cells.ts). And the
 * project's text: a README of at most 250 lines, and no file that tells how the project was made (numbered rounds
 * of work, the machine's phases) instead of what it is.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { check, functionLengths, importCircles, headBranches, MAX_LINES } = require('../scripts/check-structure.js') as {
  check(): { problems: string[]; all: { file: string; name: string; own: number }[]; native: { file: string; name: string; own: number }[]; heads: string[]; cells: string[] };
  functionLengths(file: string): { name: string; own: number }[];
  importCircles(graph: Map<string, string[]>): string[][];
  headBranches(files: string[], names: string[]): string[];
  MAX_LINES: number;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { cppFunctions } = require('../scripts/cpp-functions.js') as { cppFunctions(file: string): { name: string; line: number; lines: number }[] };
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('the structure of src/', () => {
  it('breaks no rule', () => {
    const { problems, all, native, heads, cells } = check();
    expect(problems).toEqual([]);
    expect(all.length).toBeGreaterThan(300);
    expect(native.length).toBeGreaterThan(150);
    expect(Math.max(...all.map((f) => f.own), ...native.map((f) => f.own))).toBeLessThanOrEqual(MAX_LINES);
    expect(heads.sort()).toEqual(['class', 'full', 'sampled', 'tree']);
    expect(cells).toEqual(['rnn', 'lstm', 'gru']);
  });

  it('finds import circles, head-name branches and C++ function bodies', () => {
    const graph = new Map([['a', ['b']], ['b', ['c']], ['c', ['a', 'd']], ['d', []]]);
    expect(importCircles(graph)).toEqual([['a', 'b', 'c', 'a']]);
    expect(importCircles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-structure-'));
    const ts = path.join(dir, 'x.ts');
    fs.writeFileSync(ts, ["if (config.output === 'class') f();", "const ok = kind.name;", "switch (o) { case 'tree': break; }", ''].join('\n'));
    expect(headBranches([ts], ['class', 'tree'])).toEqual([`${path.relative(path.join(__dirname, '..'), ts)}:1`, `${path.relative(path.join(__dirname, '..'), ts)}:3`]);
    const cc = path.join(dir, 'x.cc');
    fs.writeFileSync(cc, [
      'namespace a {', 'struct S { int x; };', '// f() {', 'int f(int n) {', '  if (n) {', '    return "}";', '  }', '  return 0;', '}',
      'S::S() : x(1) {', '}', '}  // namespace a', '',
    ].join('\n'));
    expect(cppFunctions(cc)).toEqual([{ name: 'f', line: 4, lines: 6 }, { name: 'S::S', line: 10, lines: 2 }]);
  });

  it('keeps the README a manual and the project\'s text about the project', () => {
    const ROOT = path.join(__dirname, '..');
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n').length).toBeLessThanOrEqual(250);
    const files = ['README.md', ...['docs', 'src', 'native', 'test', 'bench', 'scripts'].flatMap((d) => walk(path.join(ROOT, d)))]
      .filter((f) => /\.(md|ts|js|cc|h|sh)$/.test(f) && !f.endsWith('structure.test.ts'));
    expect(files.length).toBeGreaterThan(80);
    const history = /\bsessions? \d|\bround \d+ of|an hour (earlier|later|before)|in a (faster|slower) phase|was once (faster|slower)/i;
    expect(files.filter((f) => history.test(fs.readFileSync(path.resolve(ROOT, f), 'utf8')))).toEqual([]);
  });

  it('counts a function\'s own lines, less those of the functions inside it', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-structure-')), 'a.ts');
    fs.writeFileSync(file, ['function outer() {', '  const inner = () => {', '    return 1;', '  };', '  return inner();', '}', ''].join('\n'));
    expect(functionLengths(file).map((f) => [f.name, f.own])).toEqual([['outer', 3], ['inner', 3]]);
  });
});

/** Every file below dir, as paths relative to the project (results and generated folders left out). */
function walk(dir: string): string[] {
  const root = path.join(__dirname, '..');
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'results' || e.name === 'node_modules' ? [] : walk(p);
    return [path.relative(root, p)];
  });
}
