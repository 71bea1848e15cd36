/**
 * e3nn irreps as MACE uses them: a list of blocks `mul x l p` ("32x0e+32x1o").
 *
 * Layout (e3nn's): a feature row is the concatenation of the blocks in order;
 * block b of `mul` copies of an irrep of degree l occupies mul·(2l+1)
 * entries, channel-major: entry (u, m) at offset_b + u·(2l+1) + m.
 */

export type Parity = 1 | -1;

export interface IrrepBlock {
  readonly mul: number;
  readonly l: number;
  readonly p: Parity;
}

/** "3x0e+3x1o+1x2e" (a bare irrep "1o" means multiplicity 1). */
export function parseIrreps(s: string): IrrepBlock[] {
  const t = s.replace(/\s+/g, "");
  if (t === "") return [];
  return t.split("+").map((part) => {
    const m = /^(?:(\d+)x)?(\d+)([eo])$/.exec(part);
    if (!m) throw new Error(`irreps '${s}': cannot read '${part}'`);
    return { mul: m[1] === undefined ? 1 : Number(m[1]), l: Number(m[2]), p: m[3] === "e" ? 1 : -1 };
  });
}

export function irrepsToString(blocks: readonly IrrepBlock[]): string {
  return blocks.map((b) => `${b.mul}x${b.l}${b.p === 1 ? "e" : "o"}`).join("+");
}

/** Width of one block (mul·(2l+1)). */
export const blockDim = (b: IrrepBlock): number => b.mul * (2 * b.l + 1);

/** Width of a feature row. */
export function irrepsDim(blocks: readonly IrrepBlock[]): number {
  let d = 0;
  for (const b of blocks) d += blockDim(b);
  return d;
}

/** Start of each block in a feature row. */
export function blockOffsets(blocks: readonly IrrepBlock[]): number[] {
  const o: number[] = [];
  let d = 0;
  for (const b of blocks) {
    o.push(d);
    d += blockDim(b);
  }
  return o;
}

/** e3nn's Irreps.spherical_harmonics(lmax): 1x0e+1x1o+1x2e+… (parity (−1)^l). */
export function sphericalHarmonicsIrreps(lmax: number): IrrepBlock[] {
  return Array.from({ length: lmax + 1 }, (_, l): IrrepBlock => ({ mul: 1, l, p: l % 2 === 0 ? 1 : -1 }));
}
