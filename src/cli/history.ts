/** The records of a run, as written to --log (one JSON object a line) and kept in checkpoints. */
export interface IterRecord {
  type: 'iter';
  epoch: number;
  iter: number;
  iters: number;
  ppl: number;
  tokens_per_s: number;
  elapsed_s: number;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  ppl: number;
  val_ppl?: number;
  lr: number;
  tokens_per_s: number;
  elapsed_s: number;
}

export type LogRecord = IterRecord | EpochRecord;

/** Parses a --log file; a line that is not a record is an error naming the line. */
export function parseLog(text: string, source: string): LogRecord[] {
  const out: LogRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      throw new Error(`${source}:${i + 1}: not a JSON object`);
    }
    const rec = r as Partial<LogRecord>;
    if (typeof r !== 'object' || r === null || (rec.type !== 'iter' && rec.type !== 'epoch')
      || typeof rec.epoch !== 'number' || typeof rec.ppl !== 'number') {
      throw new Error(`${source}:${i + 1}: not an rnnlm log record (expected "type": "iter" or "epoch", "epoch" and "ppl")`);
    }
    out.push(r as LogRecord);
  });
  return out;
}
