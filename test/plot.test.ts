/**
 * The progress bar fits the terminal with every number; the perplexity plot puts every point where it belongs: a report at the end of the iterations it covers, each
 * epoch's training and validation perplexity at the end of that epoch (the last one included), and a y axis whose
 * tick labels span every value drawn.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { perplexitySvg, yAxis } from '../src/cli/plot';
import { barFormat } from '../src/cli/progress';
import { PTB_DIR, ROOT } from './helpers';
import type { LogRecord } from '../src/cli/history';

function records(): LogRecord[] {
  const out: LogRecord[] = [];
  const ppl = [900, 600, 470];
  for (let e = 1; e <= 3; e++) {
    for (const iter of [1, 6]) out.push({ type: 'iter', epoch: e, iter, iters: 10, ppl: ppl[e - 1] * (iter === 1 ? 1.2 : 1.05), tokens_per_s: 1, elapsed_s: 1 });
    out.push({ type: 'epoch', epoch: e, ppl: ppl[e - 1], val_ppl: ppl[e - 1] * 1.3, lr: 1, tokens_per_s: 1, elapsed_s: 1 });
  }
  return out;
}

/** [cx, cy] of every circle of a class, and the x (or y) position of every tick label. */
function parse(svg: string) {
  const circles = (cls: string): [number, number][] =>
    [...svg.matchAll(new RegExp(`<circle class="${cls}" cx="([\\d.]+)" cy="([\\d.]+)"`, 'g'))].map((m) => [Number(m[1]), Number(m[2])]);
  const xAxis = svg.slice(svg.indexOf('class="axis x"'), svg.indexOf('class="axis y"'));
  const yAxisPart = svg.slice(svg.indexOf('class="axis y"'), svg.indexOf('class="series'));
  const xTicks = new Map([...xAxis.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle">([\d.]+)<\/text>/g)].map((m) => [Number(m[2]), Number(m[1])]));
  const yTicks = [...yAxisPart.matchAll(/<text x="[\d.]+" y="([\d.]+)" text-anchor="end">([\d.]+)<\/text>/g)].map((m) => [Number(m[2]), Number(m[1]) - 4]);
  return { circles, xTicks, yTicks };
}

describe('the perplexity plot', () => {
  it('draws each epoch at its end, the last one included', () => {
    const { circles, xTicks } = parse(perplexitySvg(records()));
    const epoch = circles('epoch'), valid = circles('valid');
    expect(epoch).toHaveLength(3);
    expect(valid).toHaveLength(3);
    for (let e = 1; e <= 3; e++) {
      expect(epoch[e - 1][0]).toBeCloseTo(xTicks.get(e)!, 1);
      expect(valid[e - 1][0]).toBeCloseTo(xTicks.get(e)!, 1);
    }
    // A report at iteration 6 of 10 of epoch 2 covers iterations up to 1.6 epochs.
    const train = circles('train');
    expect(train).toHaveLength(6);
    const x0 = xTicks.get(0)!, x1 = xTicks.get(1)!;
    expect(train[3][0]).toBeCloseTo(x0 + 1.6 * (x1 - x0), 1);
  });

  it('labels a y range that covers every value, on a log axis and on a linear one', () => {
    const { circles, yTicks } = parse(perplexitySvg(records()));
    const ys = ['train', 'epoch', 'valid'].flatMap((c) => circles(c).map(([, y]) => y));
    const tickYs = yTicks.map(([, y]) => y);
    // SVG y grows downwards: the lowest tick label sits at or below the lowest point, the highest at or above the highest.
    expect(Math.max(...tickYs)).toBeGreaterThanOrEqual(Math.max(...ys) - 0.01);
    expect(Math.min(...tickYs)).toBeLessThanOrEqual(Math.min(...ys) + 0.01);
    expect(yAxis(470, 9000)).toMatchObject({ log: true, lo: 200, hi: 10000 });
    const lin = yAxis(300, 470);
    expect(lin.log).toBe(false);
    expect(lin.ticks[0]).toBeLessThanOrEqual(300);
    expect(lin.ticks[lin.ticks.length - 1]).toBeGreaterThanOrEqual(470);
  });
});

describe('the progress bar', () => {
  it.each([80, 100, 120])('fits a %i-column terminal with every number, by shrinking the bar', (columns) => {
    const { format, barsize } = barFormat(40, 1327, columns);
    const widest = format.replace('{bar}', '#'.repeat(barsize)).replace('{epoch}', '40').replace('{value}', '1327')
      .replace('{total}', '1327').replace('{ppl}', '99999.99').replace('{tps}', '9999999').replace('{eta_formatted}', '59m59s');
    expect(widest.length).toBeLessThan(columns);
    expect(format).toMatch(/tok\/s \| ETA/);
  });

  it('shows tokens/s and ETA on a real 80-column pseudo-terminal', () => {
    const cmd = `stty cols 80 rows 24; PTB_DIR=${PTB_DIR} ${process.execPath} ${path.join(ROOT, 'dist', 'cli.js')} train --preset ch6 --no-valid --max-iters 40 --workers 1`;
    const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60000 });
    // eslint-disable-next-line no-control-regex
    const screen = r.stdout.split(/\x1b\[[0-9;?]*[A-Za-z]|\x1b\d|[\r\n]+/); // each redraw starts with an escape
    const bars = screen.filter((l) => l.startsWith('epoch 1/4 '));
    expect(bars.length).toBeGreaterThan(0);
    for (const l of bars) {
      expect(l.length).toBeLessThanOrEqual(80);
      expect(l).toMatch(/\d+\/1327 \| ppl [\d.-]+ \| [\d-]+ tok\/s \| ETA \S+$/);
    }
  });
});
