/**
 * The recurrent cells, one table: what every path needs of a cell. Its gates (column blocks of Wx, Wh and b, in the
 * book's order), the state tensors it carries, its layer class, and how it exports: ONNX's operator with ONNX's gate
 * order and sign, and PyTorch's RNN type with its gate order, or why PyTorch has no equal. The model, the state
 * table, the exporters and the CLI read it and never name a cell.
 */
import { TimeGRU, TimeLSTM, TimeRNN, type RecurrentOptions, type RecurrentWeights, type TimeRecurrent } from './layers/recurrent';

export interface CellKind {
  /** Gate blocks of H columns in Wx [in, G*H], Wh [H, G*H] and b [G*H]: rnn 1; lstm 4 (f, g, i, o); gru 3 (z, r, n). */
  readonly gates: number;
  /** The state tensors a layer carries, each [N,H]. */
  readonly state: readonly string[];
  make(w: RecurrentWeights, D: number, H: number, o: RecurrentOptions): TimeRecurrent;
  /** ONNX's operator, its attributes beyond hidden_size, and for each of ONNX's gate blocks our block and its sign. */
  readonly onnx: { op: string; attrs: { name: string; i: number }[]; gates: [number, number][] };
  /** PyTorch word_language_model's rnn_type and, for each of PyTorch's gate blocks, ours; or why none equals it. */
  readonly pytorch: { type: string; gates: number[] } | string;
}

export const CELLS = {
  rnn: {
    gates: 1, state: ['h'], make: (w, D, H, o) => new TimeRNN(w, D, H, o),
    onnx: { op: 'RNN', attrs: [], gates: [[0, 1]] },
    pytorch: { type: 'RNN_TANH', gates: [0] },
  },
  lstm: {
    gates: 4, state: ['h', 'c'], make: (w, D, H, o) => new TimeLSTM(w, D, H, o),
    // ONNX i, o, f, c <- our i, o, f, g; PyTorch i, f, g, o <- our i (2), f (0), g (1), o (3).
    onnx: { op: 'LSTM', attrs: [], gates: [[2, 1], [3, 1], [0, 1], [1, 1]] },
    pytorch: { type: 'LSTM', gates: [2, 0, 1, 3] },
  },
  gru: {
    gates: 3, state: ['h'], make: (w, D, H, o) => new TimeGRU(w, D, H, o),
    // ONNX z = 1 - our z (a negated pre-activation); the reset gate before the recurrent product, as ours.
    onnx: { op: 'GRU', attrs: [{ name: 'linear_before_reset', i: 0 }], gates: [[0, -1], [1, 1], [2, 1]] },
    pytorch: "PyTorch's nn.GRU applies the reset gate after the recurrent product and rnnlm's GRU (the book's) before it, so no PyTorch weights give the same model; export it with --onnx",
  },
} as const satisfies Record<string, CellKind>;

export type CellType = keyof typeof CELLS;
export const CELL_TYPES = Object.keys(CELLS) as CellType[];

/** The cell of a name; a RangeError names an unknown one. */
export function cellKind(cell: string): CellKind {
  if (!Object.hasOwn(CELLS, cell)) throw new RangeError(`Unknown cell '${cell}': expected one of ${CELL_TYPES.join(', ')}`);
  return CELLS[cell as CellType];
}
