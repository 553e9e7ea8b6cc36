/**
 * MPI in the addon (Open MPI, where the addon was built with it; CI installs it): `rnnlm info` says whether it is
 * built, and processes started by mpirun sum their buffers in rank order, to the same bits on every rank.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNativeBackend, nativeInfo } from '../src/backend/native';
import { ROOT, rnnlm } from './helpers';

const built = Boolean(nativeInfo()?.mpi);
const required = process.env.CI === 'true';
const describeMpi = built || required ? describe : describe.skip;

describe('MPI support', () => {
  it('rnnlm info says whether it is built', () => {
    const line = rnnlm('info').out.split('\n').find((l) => l.startsWith('mpi: '));
    if (required) expect(built).toBe(true);
    expect(line).toMatch(built ? /^mpi: Open MPI v\d+\.\d+\.\d+ \(built/ : /^mpi: not built/);
  });
});

describeMpi('mpirun -np 3', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-mpi-'));
  const script = path.join(dir, 'sum.js');
  fs.writeFileSync(script, `
const a = require(${JSON.stringify(path.join(ROOT, 'dist', 'backend', 'native.js'))}).loadNativeBackend().addon;
const [rank, size] = a.mpiInit();
const data = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 7.1 + rank * 1.3) * 10 ** (rank - 2));
const mine = Array.from(data);
a.mpiSumOrdered(data);
const gathered = new Float64Array(2 * size);
a.mpiAllgather(Float64Array.from([rank, rank * 0.5 - 1e-300]), gathered);
require('node:fs').writeFileSync(${JSON.stringify(dir)} + '/rank' + rank + '.json', JSON.stringify({ rank, size, mine, sum: Array.from(data), gathered: Array.from(gathered) }));
a.mpiFinalize();
`);

  it('sums every buffer in rank order: the same bits on every rank', () => {
    const r = spawnSync('mpirun', ['-np', '3', '--oversubscribe', process.execPath, script], {
      encoding: 'utf8', timeout: 60000, env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
    });
    expect(r.status).toBe(0);
    const out = [0, 1, 2].map((k) => JSON.parse(fs.readFileSync(path.join(dir, `rank${k}.json`), 'utf8')) as { rank: number; size: number; mine: number[]; sum: number[] });
    expect(out.map((o) => [o.rank, o.size])).toEqual([[0, 3], [1, 3], [2, 3]]);
    // In float32, rank 0's value first, then rank 1's, then rank 2's (the order changes the rounding).
    const expected = out[0].mine.map((v, i) => Math.fround(Math.fround(v + out[1].mine[i]) + out[2].mine[i]));
    const otherOrder = out[0].mine.map((v, i) => Math.fround(Math.fround(out[2].mine[i] + out[1].mine[i]) + v));
    expect(otherOrder).not.toEqual(expected);
    for (const o of out) expect(o.sum).toEqual(expected);
  });

  it('gathers every rank\'s doubles in rank order, bit for bit', () => {
    for (const k of [0, 1, 2]) {
      const o = JSON.parse(fs.readFileSync(path.join(dir, `rank${k}.json`), 'utf8')) as { gathered: number[] };
      expect(o.gathered).toEqual([0, -1e-300, 1, 0.5 - 1e-300, 2, 1 - 1e-300]);
    }
  });

  it('checks its argument, and refuses to sum before MPI starts', () => {
    const a = loadNativeBackend().addon!;
    expect(() => a.mpiSumOrdered(new Float64Array(3) as unknown as Float32Array)).toThrow('Expected Float32Array for data but received Float64Array of length 3');
    expect(() => a.mpiSumOrdered(Float32Array.from([1]))).toThrow('MPI is not started');
    expect(() => a.mpiAllgather(new Float64Array(1), new Float64Array(1))).toThrow('MPI is not started');
    expect(() => a.mpiSetTimeout(0)).toThrow('Expected positive number for seconds but received 0');
    expect(() => a.mpiSetTimeout(Number.NaN)).toThrow('Expected finite number for seconds');
    expect(() => a.mpiSetTimeout('5' as unknown as number)).toThrow('Expected number for seconds but received string');
  });
});
