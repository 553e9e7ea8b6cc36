/**
 * Every Backend op's arguments, declared once, in the addon's order (the class ops' js form takes the same as a
 * descriptor): each `name:kind` or `name:kind:length`. Kinds: `f32`, `i32` (typed arrays of at least `length`
 * elements: a product of sizes and numbers such as `N*T*4H`, with `+`, `-` and parentheses, or `x.length` of another
 * argument; none: any length), `dim` (an integer >= 0), `dim1` (>= 1), `dim2` (>= 2), `bool`, `finite`, `u32` (an
 * integer in [0, 2^32)), `prob` (a number in [0, 1)); a `?` after the kind makes a trailing argument optional. The
 * js backend checks its arguments with `checkOp` from this table before it touches memory (sizes and scalars first,
 * then the arrays in order); what a length cannot say (ids in range, class groups, tree paths, strides) it checks
 * after. The addon checks the same in C++ (native/addon.cc), with the same words, which
 * test/native-boundary.test.ts holds for every argument of every op.
 */
import * as v from './validate';

export const OP_ARGS = {
  sgemm: 'transA:bool transB:bool M:dim N:dim K:dim alpha:finite A:f32 lda:dim1 B:f32 ldb:dim1 beta:finite C:f32 ldc:dim1',
  embeddingForward: 'out:f32:R*D W:f32:V*D ids:i32:R R:dim V:dim D:dim',
  embeddingBackward: 'dW:f32:V*D dout:f32:R*D ids:i32:R R:dim V:dim D:dim',
  rnnForward: 'hs:f32:N*T*H xs:f32:N*T*D h0:f32:N*H Wx:f32:D*H Wh:f32:H*H b:f32:H N:dim T:dim D:dim H:dim',
  rnnBackward: 'dxs:f32:N*T*D dWx:f32:D*H dWh:f32:H*H db:f32:H dh0:f32:N*H dhs:f32:N*T*H xs:f32:N*T*D hs:f32:N*T*H h0:f32:N*H '
    + 'Wx:f32:D*H Wh:f32:H*H work:f32:2*N*T*H N:dim T:dim D:dim H:dim',
  lstmForward: 'hs:f32:N*T*H cs:f32:N*T*H gates:f32:N*T*4H xs:f32:N*T*D h0:f32:N*H c0:f32:N*H Wx:f32:D*4H Wh:f32:H*4H b:f32:4H '
    + 'N:dim T:dim D:dim H:dim',
  lstmBackward: 'dxs:f32:N*T*D dWx:f32:D*4H dWh:f32:H*4H db:f32:4H dh0:f32:N*H dc0:f32:N*H dhs:f32:N*T*H xs:f32:N*T*D hs:f32:N*T*H '
    + 'cs:f32:N*T*H gates:f32:N*T*4H h0:f32:N*H c0:f32:N*H Wx:f32:D*4H Wh:f32:H*4H work:f32:5*N*T*H N:dim T:dim D:dim H:dim',
  gruForward: 'hs:f32:N*T*H gates:f32:N*T*3H rh:f32:N*T*H xs:f32:N*T*D h0:f32:N*H Wx:f32:D*3H Wh:f32:H*3H b:f32:3H N:dim T:dim D:dim H:dim',
  gruBackward: 'dxs:f32:N*T*D dWx:f32:D*3H dWh:f32:H*3H db:f32:3H dh0:f32:N*H dhs:f32:N*T*H xs:f32:N*T*D hs:f32:N*T*H gates:f32:N*T*3H '
    + 'rh:f32:N*T*H h0:f32:N*H Wx:f32:D*3H Wh:f32:H*3H work:f32:4*N*T*H+N*H N:dim T:dim D:dim H:dim',
  dropoutForward: 'out:f32:N*T*U mask:f32:N*T*U x:f32:N*T*U p:prob seed:u32 iteration:u32 site:u32 row0:u32 N:dim T:dim U:dim',
  dropoutBackward: 'dx:f32:R dout:f32:R mask:f32:R R:dim',
  affineForward: 'out:f32:R*O x:f32:R*I W:f32:I*O b:f32:O transW:bool R:dim I:dim O:dim',
  affineBackward: 'dx:f32:R*I dW:f32:I*O db:f32:O dout:f32:R*O x:f32:R*I W:f32:I*O work:f32:R*I transW:bool R:dim I:dim O:dim',
  classSoftmaxForward: 'zs:f32:R*C zp:f32:R*C probs:f32 hg:f32 h:f32:R*H W:f32:H*V b:f32:V Wc:f32:H*C bc:f32:C bounds:i32:C+1 ct:i32:R '
    + 'order:i32 groups:i32:C+1 ts:i32:R transW:bool R:dim H:dim V:dim1 C:dim1 classes:bool',
  classSoftmaxBackward: 'dh:f32:R*H dW:f32:H*V db:f32:V dWc:f32:H*C dbc:f32:C work:f32:R*H zp:f32:R*C probs:f32 hg:f32 h:f32:R*H W:f32:H*V '
    + 'Wc:f32:H*C bounds:i32:C+1 ct:i32:R order:i32 groups:i32:C+1 ts:i32:R scale:finite transW:bool R:dim H:dim V:dim1 C:dim1 classes:bool',
  gatherWords: 'out:f32:n*H W:f32:H*V ids:i32:n transW:bool H:dim V:dim n:dim',
  scatterAddWords: 'dW:f32:H*V src:f32:n*H ids:i32:n transW:bool H:dim V:dim n:dim',
  softmaxCrossEntropyForward: 'ys:f32:R*V scores:f32:R*V ts:i32:R R:dim V:dim1 gradScale:finite?',
  softmaxCrossEntropyBackward: 'dx:f32:R*V ys:f32:R*V ts:i32:R scale:finite R:dim V:dim1',
  sgdUpdate: 'param:f32 grad:f32:param.length lr:finite zeroGrad:bool?',
  sumSquares: 'x:f32',
  zero: 'x:f32',
  addSumSquares: 'y:f32 x:f32:y.length zeroX:bool?',
  sumSquaresRows: 'x:f32:V*D rows:i32:R R:dim V:dim D:dim',
  sgdUpdateRows: 'param:f32:V*D grad:f32:V*D lr:finite rows:i32:R R:dim V:dim D:dim zeroGrad:bool',
  addSumSquaresRows: 'y:f32:V*D x:f32:V*D rows:i32:R R:dim V:dim D:dim zeroX:bool',
  scale: 'x:f32 s:finite',
  treeSoftmaxForward: 'g:f32 h:f32:R*H W:f32:(V-1)*H b:f32:V-1 ts:i32:R offsets:i32:R+1 start:i32:V+1 node:i32 code:i32:node.length '
    + 'R:dim H:dim V:dim2',
  treeSoftmaxBackward: 'dh:f32:R*H dW:f32:(V-1)*H db:f32:V-1 g:f32 scale:finite h:f32:R*H W:f32:(V-1)*H ts:i32:R offsets:i32:R+1 '
    + 'start:i32:V+1 node:i32 R:dim H:dim V:dim2',
} as const;

export type OpName = keyof typeof OP_ARGS;

interface ArgSpec {
  name: string;
  kind: string;
  length?: string;
  optional: boolean;
  /** The least length of an array from the op's arguments, compiled from `length` once. */
  least?: (args: ArrayLike<unknown>) => number;
}

const SCALAR_CHECKS: Record<string, (name: string, x: unknown) => unknown> = {
  dim: (n, x) => v.dim(n, x), dim1: (n, x) => v.dim(n, x, 1), dim2: (n, x) => v.dim(n, x, 2), bool: v.bool, finite: v.finite,
  u32: v.uint32, prob: v.probability,
};

function parse(decl: string): ArgSpec[] {
  const specs = decl.split(' ').map((s): ArgSpec => {
    const [name, kind, length] = s.split(':');
    return { name, kind: kind.replace('?', ''), length, optional: kind.endsWith('?') };
  });
  const index = new Map(specs.map((s, i) => [s.name, i]));
  for (const s of specs) if (s.length !== undefined) s.least = compileLength(s.length, index);
  return specs;
}

/** Every op's argument declarations, parsed once. */
export const OP_SPECS: Readonly<Record<string, readonly ArgSpec[]>> = Object.fromEntries(Object.entries(OP_ARGS).map(([op, decl]) => [op, parse(decl)]));

/**
 * Checks an op's arguments against its declaration: the sizes and scalars in order, then each array's type and
 * length. A TypeError or RangeError names the argument, what was expected and what came. Allocates nothing.
 */
export function checkOp(op: OpName, args: ArrayLike<unknown>): void {
  const specs = OP_SPECS[op];
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i], check = SCALAR_CHECKS[s.kind];
    if (check && !(s.optional && args[i] === undefined)) check(s.name, args[i]);
  }
  for (let i = 0; i < specs.length; i++) {
    const s = specs[i];
    if (s.kind === 'f32') v.f32(s.name, args[i], s.least ? s.least(args) : 0, s.length);
    else if (s.kind === 'i32') v.i32(s.name, args[i], s.least ? s.least(args) : 0, s.length);
  }
}

/**
 * A length expression (`N*T*4H`, `4*N*T*H+N*H`, `(V-1)*H`, `param.length`) as a function of the op's arguments,
 * whose products refuse an overflow (`Size N*T*H = ... is too large`).
 */
function compileLength(expr: string, index: Map<string, number>): (args: ArrayLike<unknown>) => number {
  const tokens = expr.match(/\d+(?=[A-Za-z(])|[A-Za-z_]\w*(?:\.length)?|\d+|[-+*()]/g)!;
  let at = 0;
  type F = (a: ArrayLike<unknown>) => number;
  const argument = (name: string): number => {
    const i = index.get(name);
    if (i === undefined) throw new Error(`length ${expr} names '${name}', which is no argument`);
    return i;
  };
  const factor = (): F => {
    const t = tokens[at++];
    if (t === '(') {
      const x = sum();
      at++; // ')'
      return x;
    }
    if (/^\d+$/.test(t)) {
      const n = Number(t);
      if (tokens[at] !== undefined && /^[A-Za-z(]/.test(tokens[at])) {
        const rest = factor();
        return (a) => v.product(expr, n, rest(a));
      }
      return () => n;
    }
    if (t.endsWith('.length')) {
      const i = argument(t.slice(0, -'.length'.length));
      return (a) => (a[i] as { length: number }).length;
    }
    const i = argument(t);
    return (a) => a[i] as number;
  };
  const product = (): F => {
    let x = factor();
    while (tokens[at] === '*') {
      at++;
      const l = x, r = factor();
      x = (a) => v.product(expr, l(a), r(a));
    }
    return x;
  };
  const sum = (): F => {
    let x = product();
    while (tokens[at] === '+' || tokens[at] === '-') {
      const plus = tokens[at++] === '+', l = x, r = product();
      x = plus ? (a) => l(a) + r(a) : (a) => l(a) - r(a);
    }
    return x;
  };
  return sum();
}
