/**
 * The layering and size rules of src/, checked on the code itself (scripts/check-structure.js): no function longer
 * than 80 lines of its own, the trainer and the parallel engine never reach past the Backend interface to the
 * native addon, and the CLI never imports a layer.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { check, functionLengths, MAX_LINES } = require('../scripts/check-structure.js') as {
  check(): { problems: string[]; all: { file: string; name: string; own: number }[] };
  functionLengths(file: string): { name: string; own: number }[];
  MAX_LINES: number;
};
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('the structure of src/', () => {
  it('breaks no rule', () => {
    const { problems, all } = check();
    expect(problems).toEqual([]);
    expect(all.length).toBeGreaterThan(300);
    expect(Math.max(...all.map((f) => f.own))).toBeLessThanOrEqual(MAX_LINES);
  });

  it('counts a function\'s own lines, less those of the functions inside it', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-structure-')), 'a.ts');
    fs.writeFileSync(file, ['function outer() {', '  const inner = () => {', '    return 1;', '  };', '  return inner();', '}', ''].join('\n'));
    expect(functionLengths(file).map((f) => [f.name, f.own])).toEqual([['outer', 3], ['inner', 3]]);
  });
});
