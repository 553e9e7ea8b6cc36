/**
 * The perplexity curve as SVG (the book's figure): the running training perplexity of every report at the end of
 * the iterations it covers, each epoch's training and validation perplexity at the end of that epoch, against
 * epochs, with axes, tick labels, axis titles and a legend. Log-scaled y when the curve spans more than a factor
 * of 4; the y axis runs from a tick at or below the lowest value to one at or above the highest. One <circle> per
 * point, with a <title> giving its numbers.
 *
 * Written by hand: the charting libraries that fit (vega 6, d3 7) are ES modules with top-level await that this
 * CommonJS package cannot load synchronously (nor under jest), and vega adds ~25 MB for two lines.
 */
import type { LogRecord } from './history';

export interface Point {
  x: number;
  y: number;
  label: string;
}

const W = 760, H = 420, M = { left: 70, right: 180, top: 40, bottom: 55 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v >= 1000) return String(Math.round(v));
  return String(Number(v.toPrecision(3)));
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 times a power of ten). */
export function linearTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks for a log axis: 1, 2, 5 times powers of ten inside [lo, hi]. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo && v <= hi) out.push(Number(v.toPrecision(12)));
    }
  }
  return out;
}

/**
 * The series of a run's records: `train`, the running perplexity of every report at the end of the iterations it
 * covers (epoch - 1 + iter / iters); `epoch`, each epoch's training perplexity at its end (x = epoch); `valid`,
 * each epoch's validation perplexity, also at its end.
 */
export function series(records: LogRecord[]): { train: Point[]; epoch: Point[]; valid: Point[] } {
  const iters = records.filter((r) => r.type === 'iter');
  const epochs = records.filter((r) => r.type === 'epoch');
  const train = iters.map((r) => ({ x: r.epoch - 1 + r.iter / r.iters, y: r.ppl, label: `epoch ${r.epoch}, iteration ${r.iter}: perplexity ${fmt(r.ppl)}` }));
  const epoch = epochs.map((r) => ({ x: r.epoch, y: r.ppl, label: `epoch ${r.epoch}: training perplexity ${fmt(r.ppl)}` }));
  const valid = epochs.filter((r) => typeof r.val_ppl === 'number')
    .map((r) => ({ x: r.epoch, y: r.val_ppl as number, label: `epoch ${r.epoch}: validation perplexity ${fmt(r.val_ppl as number)}` }));
  return { train, epoch, valid };
}

/** The largest 1, 2 or 5 times a power of ten at or below v (up: the smallest at or above). */
export function niceLog(v: number, up: boolean): number {
  const e = Math.floor(Math.log10(v));
  const cands = [1, 2, 5, 10].map((m) => Number((m * 10 ** e).toPrecision(12)));
  return up ? cands.find((c) => c >= v) ?? 10 ** (e + 1) : [...cands].reverse().find((c) => c <= v) ?? 10 ** e;
}

/** The y axis for values in [yMin, yMax]: scale, ends (ticks themselves) and ticks. */
export function yAxis(yMin: number, yMax: number): { log: boolean; lo: number; hi: number; ticks: number[] } {
  if (yMax / yMin > 4) {
    const lo = niceLog(yMin, false), hi = niceLog(yMax, true);
    return { log: true, lo, hi, ticks: logTicks(lo, hi) };
  }
  const pad = yMax > yMin ? 0 : Math.max(1, 0.05 * yMax);
  const rough = linearTicks(yMin - pad, yMax + pad);
  const step = rough.length > 1 ? rough[1] - rough[0] : 1;
  const lo = Math.max(0, Math.floor((yMin - pad) / step) * step), hi = Math.ceil((yMax + pad) / step) * step;
  return { log: false, lo, hi, ticks: linearTicks(lo, hi).filter((t) => t >= lo - step * 1e-9 && t <= hi + step * 1e-9) };
}

export function perplexitySvg(records: LogRecord[], title = 'Perplexity'): string {
  const { train, epoch, valid } = series(records);
  const all = [...train, ...epoch, ...valid].filter((p) => Number.isFinite(p.y) && p.y > 0);
  if (all.length === 0) throw new Error('nothing to plot: the log has no perplexity records');
  const xMax = Math.max(1, ...all.map((p) => p.x));
  const { log, lo, hi, ticks } = yAxis(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)));
  const pw = W - M.left - M.right, ph = H - M.top - M.bottom;
  const sx = (x: number): number => M.left + (x / xMax) * pw;
  const sy = (y: number): number => M.top + ph - (log ? (Math.log(y / lo) / Math.log(hi / lo)) : (y - lo) / (hi - lo)) * ph;
  const r2 = (v: number): string => v.toFixed(2);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  // Axes with ticks and grid lines.
  parts.push(`<g class="axis x">`);
  for (const t of linearTicks(0, xMax, Math.min(10, Math.ceil(xMax)))) {
    parts.push(`<line x1="${r2(sx(t))}" y1="${M.top}" x2="${r2(sx(t))}" y2="${M.top + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${r2(sx(t))}" y="${M.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle">epoch</text></g>`);
  parts.push(`<g class="axis y">`);
  for (const t of ticks) {
    parts.push(`<line x1="${M.left}" y1="${r2(sy(t))}" x2="${M.left + pw}" y2="${r2(sy(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 8}" y="${r2(sy(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="black"/>`);
  parts.push(`<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">perplexity${log ? ' (log scale)' : ''}</text></g>`);
  const draw = (name: string, pts: Point[], color: string, width: number, radius: number): void => {
    if (pts.length === 0) return;
    parts.push(`<g class="series ${name}">`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${width}" points="${pts.map((p) => `${r2(sx(p.x))},${r2(sy(p.y))}`).join(' ')}"/>`);
    for (const p of pts) {
      parts.push(`<circle class="${name}" cx="${r2(sx(p.x))}" cy="${r2(sy(p.y))}" r="${radius}" fill="${color}"><title>${esc(p.label)}</title></circle>`);
    }
    parts.push(`</g>`);
  };
  draw('train', train, '#9ecae1', 1, 1.5);
  draw('epoch', epoch, '#1f77b4', 2, 3.5);
  draw('valid', valid, '#ff7f0e', 2, 3.5);
  // Legend.
  const legend = ([['train', '#9ecae1', 'training (running)', train], ['epoch', '#1f77b4', 'training (epoch)', epoch],
    ['valid', '#ff7f0e', 'validation', valid]] as const).filter(([, , , pts]) => pts.length > 0);
  parts.push(`<g class="legend">`);
  legend.forEach(([, color, label], i) => {
    const y = M.top + 10 + i * 20;
    parts.push(`<line x1="${W - M.right + 15}" y1="${y}" x2="${W - M.right + 40}" y2="${y}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${W - M.right + 46}" y="${y + 4}">${label}</text>`);
  });
  parts.push(`</g></svg>`);
  return parts.join('\n') + '\n';
}
