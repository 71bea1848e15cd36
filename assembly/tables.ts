// Per-code table lookups (src/backends/emulated/tables.ts): values on an m-bit
// float grid (every value a float32 number whose low 23 − m fraction bits are
// zero) index a table by their float32 bits >>> (23 − m).

// y[i] = table[f32bits(x[i]) >>> shift] for i < n; stops at the first NaN
// (whose payload a table cannot carry) and returns its index, else n.
export function gridGather(x: usize, n: i32, shift: i32, table: usize, y: usize): i32 {
  for (let i = 0; i < n; i++) {
    const v = load<f64>(x + (<usize>i << 3));
    if (v != v) return i;
    const code = reinterpret<u32>(<f32>v) >>> <u32>shift;
    store<f64>(y + (<usize>i << 3), load<f64>(table + (<usize>code << 3)));
  }
  return n;
}
