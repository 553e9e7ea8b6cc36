/**
 * The run options' one declaration (src/run-options.ts) against everything that reads it: the presets, the
 * command line's flags and their checks, the checkpoint's configuration and its check, the comparison of a resumed
 * command line, fit's checks and `rnnlm info`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LanguageModel, RnnlmTrainer, SGD, jsBackend } from '../src';
import { describeValue, flagOf, valueAccepted } from '../src/options';
import { ALL_RUN_OPTIONS, RUN_PARTS, runOption } from '../src/run-options';
import { trainCommand } from '../src/cli/train';
import { PRESETS } from '../src/cli/presets';
import { checkResumeFlags, checkStoredOptions, configFromFlags, RESUMABLE, type TrainFlags } from '../src/cli/run-config';
import { rnnlm } from './helpers';

/** The flags commander parses from a command line, as `rnnlm train` gets them. */
async function parse(...args: string[]): Promise<{ flags: TrainFlags; explicit: Set<string> }> {
  let got: { flags: TrainFlags; explicit: Set<string> } | undefined;
  const cmd = trainCommand(async (flags, explicit) => { got = { flags, explicit }; }).exitOverride().configureOutput({ writeErr: () => undefined });
  await cmd.parseAsync(args, { from: 'user' });
  return got!;
}

describe('the run options', () => {
  it('each have a part, a flag of their key, and a default their own value spec accepts', () => {
    const keys = ALL_RUN_OPTIONS.map((o) => o.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const o of ALL_RUN_OPTIONS) {
      expect(RUN_PARTS).toContain(o.part);
      if (o.default !== undefined) expect([o.key, valueAccepted(o.value, o.default)]).toEqual([o.key, true]);
      if (o.legacy !== undefined) expect([o.key, valueAccepted(o.value, o.legacy)]).toEqual([o.key, true]);
    }
    expect(runOption('classes').part).toBe('model'); // a head's, from the head table
  });

  it('are the flags of rnnlm train, no more and no fewer', () => {
    const cmd = trainCommand(async () => undefined);
    const flags = cmd.options.map((o) => o.long!).sort();
    const declared = ALL_RUN_OPTIONS.flatMap((o) => [flagOf(o.key), ...(o.value.type === 'switch' && o.value.negatable ? [`--no-${flagOf(o.key).slice(2)}`] : [])]);
    expect(flags).toEqual(['--preset', ...declared].sort());
  });

  it('are what the presets set, each value one its option accepts', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      for (const [key, value] of Object.entries(preset.flags)) {
        const o = runOption(key);
        expect([name, key, o.noPreset ?? false, valueAccepted(o.value, value)]).toEqual([name, key, false, true]);
      }
    }
  });

  it('parse flags with their value specs, and fit checks its options with the same ones', async () => {
    await expect(parse('--lr-decay', '1')).rejects.toThrow(`Expected ${describeValue(runOption('lrDecay').value)}.`);
    await expect(parse('--seed', '4294967296')).rejects.toThrow('Expected an integer from 0 to 4294967295.');
    await expect(parse('--workers', 'many')).rejects.toThrow("Expected a positive integer or 'auto'.");
    expect((await parse('--workers', 'auto', '--min-improvement', '1.003')).flags).toMatchObject({ workers: 'auto', minImprovement: 1.003 });
    const model = new LanguageModel({ vocabSize: 10, wordvecSize: 4, hiddenSize: 4 }, { backend: jsBackend });
    const ids = Int32Array.from({ length: 100 }, (_, i) => i % 10);
    const fit = (o: object): Promise<unknown> => new RnnlmTrainer(model, new SGD(0.1, { backend: jsBackend })).fit(ids, ids, { maxEpoch: 1, ...o });
    await expect(fit({ batchSize: 0 })).rejects.toThrow('Expected a positive integer for batchSize but received 0');
    await expect(fit({ maxGrad: -1 })).rejects.toThrow('Expected a positive number for maxGrad but received -1');
    await expect(fit({ workers: 0 })).rejects.toThrow("Expected a positive integer or 'auto' for workers but received 0");
    await expect(fit({ batchSize: 2, workers: 3 })).rejects.toThrow('workers 3 exceeds batchSize 2: each worker needs a batch row');
  });

  it('make a checkpoint configuration that its check accepts, and whose every stored value it checks', async () => {
    const { flags } = await parse('--output', 'class', '--classes', '7', '--max-grad', '0.5', '--tied');
    const config = configFromFlags(flags) as unknown as Record<string, unknown>;
    expect(config).toMatchObject({ cell: 'rnn', output: 'class', classes: 7, classMethod: 'frequency', maxGrad: 0.5, tied: true, valid: false });
    expect(config).not.toHaveProperty('noiseSamples'); // another head's option
    const fail = (k: string, what: string): never => {
      throw new Error(`${k}: ${what}`);
    };
    expect(() => checkStoredOptions(config, fail)).not.toThrow();
    for (const o of ALL_RUN_OPTIONS.filter((x) => x.stored === 'config')) {
      const key = o.configKey ?? o.key;
      expect(() => checkStoredOptions({ ...config, [key]: o.value.type === 'text' ? 7 : 'x' }, fail)).toThrow(`${key}: ${describeValue(o.value)}`);
      if (!o.optional) expect(() => checkStoredOptions({ ...config, [key]: undefined }, fail)).toThrow(`${key}: `);
    }
  });

  it('let a resumed command line change exactly the resumable ones', async () => {
    const base = ['--model', 'lstm', '--output', 'sampled', '--noise-samples', '5'];
    const { flags } = await parse(...base);
    const stored = configFromFlags(flags);
    const resumed = async (...more: string[]): Promise<void> => {
      const p = await parse(...base, ...more);
      checkResumeFlags(p.flags, p.explicit, stored, 'run.ckpt');
    };
    await expect(resumed('--max-epoch', '7', '--workers', '2', '--checkpoint', 'x.ckpt', '--backend', 'js')).resolves.toBeUndefined();
    await expect(resumed('--noise-samples', '6')).rejects.toThrow('--noise-samples 6 differs from run.ckpt, whose run has 5');
    await expect(resumed('--hidden-size', '50')).rejects.toThrow('--hidden-size 50 differs from run.ckpt, whose run has 100');
    await expect(resumed('--corpus-size', '50')).rejects.toThrow('--corpus-size 50 differs from run.ckpt, whose run has 1000');
    expect([...RESUMABLE].sort()).toEqual(ALL_RUN_OPTIONS.filter((o) => o.resumable).map((o) => o.key).sort());
    expect(RESUMABLE.has('lr')).toBe(false);
  });

  it('show in rnnlm info of a checkpoint, by part, as the flags that make the run', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnnlm-options-'));
    const ckpt = path.join(dir, 'run.ckpt');
    expect(rnnlm('train', '--model', 'gru', '--max-epoch', '1', '--max-grad', '0.5', '--checkpoint', ckpt, '--corpus-size', '300').code).toBe(0);
    const out = rnnlm('info', ckpt).out;
    expect(out).toMatch(/^ {2}model: --model gru --num-layers 1 .*--hidden-size 100 --seed 0 --precision fp32$/m);
    expect(out).toMatch(/^ {2}data: --corpus-size 300 --batch-size 10 --time-size 5$/m);
    expect(out).toMatch(/^ {2}optimizer: --lr 0.1 --max-grad 0.5$/m);
    expect(out).toMatch(/^ {2}schedule: --max-epoch 1 --no-valid /m);
  });
});
