/** A Float32Array of exactly `length` elements: `buf` itself when it fits, else a new one. */
export function ensureF32(buf: Float32Array | undefined, length: number): Float32Array {
  return buf !== undefined && buf.length === length ? buf : new Float32Array(length);
}

/** Throws a RangeError naming the input when `x` does not hold exactly N*T*C elements. */
export function expectLength(name: string, x: { length: number }, length: number, shape: string): void {
  if (x.length !== length) {
    throw new RangeError(`Expected ${name} of length ${shape} (=${length}) but received ${x.length}`);
  }
}
