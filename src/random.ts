/**
 * A small seeded generator (xoshiro128**, seeded through splitmix32) so that a run is reproducible from its
 * seed on every platform. Its whole state is four 32-bit words: `state` / `fromState` save and restore it.
 */
// Module-level bindings: a global lookup per call is slow inside vm contexts (e.g. jest).
const { sqrt, log, cos, imul, PI } = Math;

export class Random {
  private readonly s = new Uint32Array(4);

  constructor(seed = 0) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  static fromState(state: ArrayLike<number>): Random {
    if (state.length !== 4) throw new RangeError(`Expected 4 state words but received ${state.length}`);
    const r = new Random(0);
    for (let i = 0; i < 4; i++) r.s[i] = state[i] >>> 0;
    if ((r.s[0] | r.s[1] | r.s[2] | r.s[3]) === 0) throw new RangeError('Random state must not be all zero');
    return r;
  }

  get state(): number[] {
    return Array.from(this.s);
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const s = this.s;
    const result = imul(rotl(imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller). */
  randn(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const w = this.uniform();
    return sqrt(-2 * log(u)) * cos(2 * PI * w);
  }

  /** Fill `out` with standard normals times `scale`. */
  fillRandn(out: Float32Array, scale: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.randn() * scale;
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
