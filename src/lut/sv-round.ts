/**
 * SystemVerilog text of `round_out`: a value ±mag·2^E2 (mag an unsigned
 * integer, E2 fixed at generation time) rounded once into the LUT unit's
 * output format with its rounding mode, saturating — the arithmetic of
 * hwsim's encodeExact (assembly/round.ts) for a spec with overflow
 * "saturate": round to the quantum of the result's binade (or of the
 * subnormal range), carry into the exponent, clamp to the largest finite
 * magnitude, flush subnormals where the format has none. The special codes
 * (the two zeros, ±max, negatives into an unsigned float) are hwsim's own
 * encodings of those values, computed once here.
 */
import type { Format } from "../formats/descriptor.js";
import { floatLayout } from "../formats/spec.js";
import type { LutUnit } from "./unit.js";
import { outCode } from "./eval.js";

export const hexLit = (w: number, c: number | bigint) => `${w}'h${c.toString(16)}`;

/** Whether to add one quantum to the truncated n0 (`cmp`: the discarded part vs half a quantum). */
function upExpr(mode: string): string {
  switch (mode) {
    case "rne": return "gt_half || (eq_half && n[0])";
    case "rna": return "gt_half || eq_half";
    case "rtz": return "1'b0";
    case "rup": return "!neg";
    case "rdown": return "neg";
    case "rto": return "!n[0]"; // round to odd: set the lsb of an inexact result
    default: throw new Error(`rounding ${mode}`);
  }
}

/**
 * The function (inside the module): `round_out(neg, mag, zneg)`; zneg is the
 * sign of a zero mag (the sign of an exact zero result is decided upstream).
 * `WS`: bits of mag.
 */
export function roundOutSv(u: LutUnit, E2: number, WS: number): string {
  const f: Format = u.outputFormat;
  const WO = f.kind === "int" ? f.bits : f.ebits + f.mbits + (f.signed ? 1 : 0);
  const mode = u.outputSpec.rounding;
  const code = (v: number) => hexLit(WO, outCode(u, v));
  // n and its carry after any left shift; for integer outputs also wide enough for the saturation bounds
  const NW = Math.max(WS + 2 + (f.kind === "float" ? f.mbits : Math.max(0, E2 + f.frac)), WO + 1);
  // the discarded part below the quantum 2^(sh) of mag, compared with half of it
  const quantum = (shExpr: string) => `    sh = ${shExpr};
    if (sh <= 0) begin
      n = ${NW}'(mag) << -sh;
      inexact = 1'b0; gt_half = 1'b0; eq_half = 1'b0;
    end else begin
      n    = sh >= ${WS} ? '0 : ${NW}'(mag) >> sh;
      rem  = sh >= ${WS} ? ${NW}'(mag) : ${NW}'(mag) & ((${NW}'(1) << sh) - 1);
      half = sh > ${WS} ? '0 : ${NW}'(1) << (sh - 1);
      inexact = rem != 0;
      gt_half = sh > ${WS} ? 1'b0 : rem > half;
      eq_half = sh > ${WS} ? 1'b0 : rem == half;
    end
    up = inexact && (${upExpr(mode)});
    n = n + ${NW}'(up);
`;
  // one if / else chain assigning the function's name (no early return: Yosys 0.23 reads this subset)
  const chain = (cases: [string, string][], last: string) =>
    cases.map(([c, v], i) => `    ${i ? "else " : ""}if (${c}) round_out = ${v};\n`).join("") + `    else round_out = ${last};\n`;
  const head = `  // ±mag·2^(${E2}) rounded once into ${f.name} (${mode}, saturating); zneg: the sign of a zero mag
  function automatic logic [${WO - 1}:0] round_out(input logic neg, input logic [${WS - 1}:0] mag, input logic zneg);
    logic [${NW - 1}:0] n, rem, half;
    logic inexact, gt_half, eq_half, up;
    integer sh;
`;
  const zero: [string, string] = ["mag == 0", `zneg ? ${code(-0)} : ${code(0)}`];
  if (f.kind === "int") {
    const max = f.signed ? 2n ** BigInt(f.bits - 1) - 1n : 2n ** BigInt(f.bits) - 1n;
    const minMag = f.signed ? 2n ** BigInt(f.bits - 1) : 0n;
    return `${head}${quantum(`${-f.frac - E2}`)}${chain(
      [zero, ["!neg", `n > ${NW}'d${max} ? ${hexLit(WO, max)} : ${WO}'(n)`], [`n > ${NW}'d${minMag}`, hexLit(WO, minMag)]],
      `${WO}'(-n)`,
    )}  endfunction
`;
  }
  const L = floatLayout(f);
  const mb = f.mbits;
  const sat = `neg ? ${code(-Infinity)} : ${code(Infinity)}`;
  const cases: [string, string][] = [zero];
  if (!f.signed) cases.push(["neg", code(-1)]);
  cases.push([`e_eff > ${L.emin + 2 ** f.ebits + 1}`, sat], ["n == 0", `neg ? ${code(-0)} : ${code(0)}`], [`cw > 64'd${L.maxMag}`, sat]);
  if (!f.subnormals) cases.push([`cw < 64'd${2 ** mb}`, `neg ? ${code(-0)} : ${code(0)}`]);
  return `${head}    integer msb, e_eff, be, i;
    logic [63:0] cw;
    msb = 0;
    for (i = 0; i < ${WS}; i = i + 1) if (mag[i]) msb = i;
    e_eff = ${E2} + msb > ${L.emin} ? ${E2} + msb : ${L.emin};
${quantum(`e_eff - ${mb} - (${E2})`)}    be = e_eff - (${L.emin}) + ${L.fieldAtEmin - 1}; // the biased exponent field
    cw = 64'(n) + (64'(be) << ${mb});
${chain(cases, f.signed ? `{neg, ${WO - 1}'(cw)}` : `${WO}'(cw)`)}  endfunction
`;
}
