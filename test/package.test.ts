/**
 * Uses the package the way a user's TypeScript project does: `import ... from 'rnnlm'` resolved through
 * node_modules and package.json "exports"/"types", type-checked, compiled and run. The program is README's
 * library example.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PTB_DIR, ROOT } from './helpers';

const EXAMPLE = `
import { loadPtb, LanguageModel, SGD, RnnlmTrainer, PlateauSchedule, evalPerplexity } from 'rnnlm';

async function main(): Promise<void> {
  const train = (await loadPtb('train')).corpus.subarray(0, 20000), valid = (await loadPtb('valid')).corpus.subarray(0, 4000);
  const model = new LanguageModel({ cell: 'lstm', layers: 2, vocabSize: 10000, wordvecSize: 64, hiddenSize: 64, dropout: 0.2 });
  const trainer = new RnnlmTrainer(model, new SGD(20));
  await trainer.fit(train.subarray(0, -1), train.subarray(1), {
    maxEpoch: 3, batchSize: 20, timeSize: 35, maxGrad: 0.25,
    validation: { corpus: valid, schedule: new PlateauSchedule({ lrDecay: 4 }) },
    onEpoch: (r) => console.log(\`epoch \${r.epoch}: perplexity \${r.ppl.toFixed(2)}, valid \${r.valPpl!.toFixed(2)}, lr \${r.lr}\`),
  });
  console.log('test', evalPerplexity(model, (await loadPtb('test')).corpus, 10, 35).toFixed(2));
}
void main();
`;

describe('the package, imported by name', () => {
  it('type-checks, compiles and trains from a separate project', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-user-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'rnnlm'), 'dir');
    fs.writeFileSync(path.join(dir, 'main.ts'), EXAMPLE);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '--strict', '--target', 'ES2022', '--module', 'commonjs', '--types', 'node',
      '--typeRoots', path.join(ROOT, 'node_modules', '@types'), 'main.ts'], { cwd: dir, encoding: 'utf8' });
    const out = execFileSync(process.execPath, ['main.js'], { cwd: dir, encoding: 'utf8', env: { ...process.env, PTB_DIR } });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(4);
    const ppl = lines.slice(0, 3).map((l) => Number(/perplexity ([\d.]+)/.exec(l)![1]));
    const valid = lines.slice(0, 3).map((l) => Number(/valid ([\d.]+)/.exec(l)![1]));
    expect(ppl[2]).toBeLessThan(ppl[0]);
    expect(valid[2]).toBeLessThan(valid[0]);
    expect(valid[0]).toBeLessThan(10000);
    const test = Number(lines[3].split(' ')[1]);
    expect(test).toBeGreaterThan(1);
    expect(test).toBeLessThan(2 * valid[2]);
  });

  it("type-checks in a project that loads no ambient types (\"types\": [], skipLibCheck false)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-types-'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'rnnlm'), 'dir');
    fs.writeFileSync(path.join(dir, 'main.ts'), `
import { LanguageModel, RnnlmTrainer, SGD, evalPerplexity, readWeights, type ModelConfig, type Weights } from 'rnnlm';
const config: Partial<ModelConfig> & { vocabSize: number } = { cell: 'lstm', layers: 2, vocabSize: 10, tied: true };
export const model = new LanguageModel(config);
export const trainer = new RnnlmTrainer(model, new SGD(1));
export const ppl: number = evalPerplexity(model, new Int32Array(100), 2, 5);
export const load = (f: string): Weights => readWeights(f);
`);
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, types: [], skipLibCheck: false, noEmit: true, target: 'ES2022', module: 'commonjs', lib: ['ES2022'] },
      files: ['main.ts'],
    }));
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('says once, at first use, that it fell back to the js backend, and why', () => {
    // A copy of the compiled package without the addon beside it: the loader finds nothing.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-nonative-'));
    fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const code = `const r = require(${JSON.stringify(path.join(dir, 'dist'))});
      new r.SimpleRnnlm(10, 4, 4); new r.Rnnlm(10, 4, 4); console.log(new r.SimpleRnnlm(10, 4, 4).backend.name);`;
    const env = { ...process.env };
    delete env.RNNLM_BACKEND;
    delete env.RNNLM_NATIVE_PATH;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env });
    expect(r.stdout.trim()).toBe('js');
    const warnings = r.stderr.split('\n').filter((l) => l.includes('RNNLM_JS_FALLBACK'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/rnnlm uses the js backend \(about 100x slower\): the native addon could not be loaded \(tried .*not found/);
  });
});
