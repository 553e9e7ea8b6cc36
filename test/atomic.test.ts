/** A failed write never replaces the previous file, and leaves no temporary file behind. */
import * as path from 'node:path';
import * as os from 'node:os';

let failWrites = false;
jest.mock('node:fs', () => {
  const actual = jest.requireActual('node:fs');
  return {
    ...actual,
    writeSync: (...args: unknown[]) => {
      if (failWrites) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return actual.writeSync(...args);
    },
  };
});

import * as fs from 'node:fs';
import { writeFileAtomic } from '../src/atomic';

describe('writeFileAtomic', () => {
  it('keeps the old file when the write fails midway', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-atomic-'));
    const f = path.join(dir, 'run.ckpt');
    writeFileAtomic(f, 'good checkpoint');
    failWrites = true;
    try {
      expect(() => writeFileAtomic(f, 'new checkpoint')).toThrow(/ENOSPC/);
    } finally {
      failWrites = false;
    }
    expect(fs.readFileSync(f, 'utf8')).toBe('good checkpoint');
    expect(fs.readdirSync(dir)).toEqual(['run.ckpt']);
    writeFileAtomic(f, 'newer');
    expect(fs.readFileSync(f, 'utf8')).toBe('newer');
  });
});
