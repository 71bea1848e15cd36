/** Number formatting shared by the terminal tables and the HTML report. */

/** `digits` significant digits, exponent notation outside [1e-3, 1e6); ∞ / −∞ / NaN spelled out. */
export function fmtG(x: number | undefined, digits = 3): string {
  if (x === undefined) return "-";
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "∞";
  if (x === -Infinity) return "−∞";
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e6 ? Number(x.toPrecision(digits)).toString() : x.toExponential(digits - 1);
}

/** dB with one decimal; ±∞ spelled out. */
export function fmtDb(x: number | undefined): string {
  if (x === undefined) return "-";
  if (x === Infinity) return "∞";
  if (x === -Infinity) return "−∞";
  if (Number.isNaN(x)) return "NaN";
  return x.toFixed(1);
}

/** Energy given in pJ, in the largest unit that keeps it ≥ 1 (pJ, nJ, µJ, mJ, J). */
export function fmtEnergyPJ(pj: number | undefined): string {
  if (pj === undefined) return "-";
  const units: [number, string][] = [[1e12, "J"], [1e9, "mJ"], [1e6, "µJ"], [1e3, "nJ"], [1, "pJ"]];
  for (const [s, u] of units) if (Math.abs(pj) >= s) return `${(pj / s).toPrecision(4)} ${u}`;
  return `${pj.toPrecision(4)} pJ`;
}

/** Bytes in B, kB, MB, GB (powers of 1000). */
export function fmtBytes(b: number): string {
  if (b < 1e3) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(1)} kB`;
  if (b < 1e9) return `${(b / 1e6).toFixed(2)} MB`;
  return `${(b / 1e9).toFixed(2)} GB`;
}

/** A count with thousands separators (1 234 567). */
export function fmtCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

/** Plain-text table (columns padded; rightAlign per column). */
export function textTable(head: string[], rows: string[][], rightAlign: boolean[] = []): string {
  const len = (s: string) => [...s].length;
  const pad = (s: string, w: number, right: boolean) => (right ? " ".repeat(w - len(s)) + s : s + " ".repeat(w - len(s)));
  const w = head.map((h, i) => Math.max(len(h), ...rows.map((r) => len(r[i] ?? ""))));
  const line = (c: string[]) => c.map((x, i) => pad(x ?? "", w[i], !!rightAlign[i])).join("  ").trimEnd() + "\n";
  return line(head) + line(w.map((n) => "-".repeat(n))) + rows.map(line).join("");
}
