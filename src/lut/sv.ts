/**
 * `hwsim lut export --format sv`: the LUT unit as a synthesizable
 * SystemVerilog module with the ROM inlined (a case statement), following the
 * port convention of `hwsim rtl` (clk, rst_n, in_valid, x, out_valid, y;
 * latency 1).
 *
 * Supported (what makes the address generator of src/lut/unit.ts a shift of
 * the input code): an integer / fixed-point input format whose step s
 * (2^-frac × inputScale) gives s·2^addressBits/(hi − lo) = 2^k for an integer
 * k, lo a multiple of s, interpolation none and entryFormat = outputFormat
 * (the output is the ROM word). Then P = (code − lo/s)·2^k (k < 0: a right
 * shift, the floor) and the address is min(P, N − 1).
 */
import { InputError } from "../errors.js";
import { encode } from "../formats/cast.js";
import type { LutUnit } from "./unit.js";
import { romOf } from "./eval.js";
import { romHeader } from "./rom.js";

function svExportProblem(u: LutUnit): { k: number; cLo: number } {
  const why = (m: string) => new InputError(`--format sv: ${m}`);
  if (u.interpolation !== "none") throw why("only interpolation none is exported as RTL (use --interp none)");
  if (u.entryFormat.name !== u.outputFormat.name) throw why(`the entry format (${u.entryFormat.name}) must equal the output format (${u.outputFormat.name})`);
  const f = u.inputFormat;
  if (f.kind !== "int") throw why(`the input format must be an integer or fixed-point format (got ${f.name}); float inputs need an address generator that is not exported`);
  const s = 2 ** -f.frac * u.inputScale;
  const k = Math.log2((s * 2 ** u.addressBits) / u.width);
  const cLo = u.lo / s;
  if (!Number.isInteger(k) || !Number.isSafeInteger(cLo)) {
    throw why(`the address must be a shift of the input code: need step·2^addressBits/(hi − lo) a power of two and lo a multiple of the step (step ${s}, range [${u.lo}, ${u.hi}])`);
  }
  return { k, cLo };
}

/** The module text. */
export function formatLutSv(u: LutUnit, module = "hwsim_lut"): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(module)) throw new InputError(`--module '${module}' is not a Verilog module name`);
  const { k, cLo } = svExportProblem(u);
  const f = u.inputFormat as Extract<typeof u.inputFormat, { kind: "int" }>;
  const rom = romOf(u);
  const N = 2 ** u.addressBits;
  const wi = f.bits;
  const wo = rom.width;
  const A = u.addressBits;
  const W = wi + A + Math.abs(k) + 3; // wide enough for code − lo/s and its shift
  const hexW = (c: number) => `${wo}'h${c.toString(16)}`;
  const outCode = (v: number) => encode(new Float64Array([v]), u.outputFormat, { rounding: u.outputSpec.rounding === "sr" ? "rne" : u.outputSpec.rounding, overflow: "saturate" })[0];
  const code = f.signed ? `$signed({x[${wi - 1}], x})` : `$signed({1'b0, x})`;
  const cHi = Math.floor(u.hi / (2 ** -f.frac * u.inputScale));
  const lit = (v: number) => (v < 0 ? `-${W}'sd${-v}` : `${W}'sd${v}`);
  const cases = Array.from(rom.codes, (c, a) => `      ${A}'d${a}: rom = ${hexW(c)};\n`).join("");
  return `${romHeader(u).map((l) => `// ${l}\n`).join("")}// hwsim lut export --format sv: position P = (code - (${cLo})) ${k >= 0 ? "<< " + k : ">>> " + -k}, address = min(P, ${N - 1})
module ${module} (
  input  logic clk,
  input  logic rst_n,
  input  logic in_valid,
  input  logic [${wi - 1}:0] x,
  output logic out_valid,
  output logic [${wo - 1}:0] y
);
  function automatic logic [${wo - 1}:0] rom(input logic [${A - 1}:0] a);
    case (a)
${cases}      default: rom = '0;
    endcase
  endfunction

  logic signed [${W - 1}:0] code, d, p;
  logic below, above;
  logic [${A - 1}:0] addr;
  logic [${wo - 1}:0] r;
  assign code  = ${code};
  assign d     = code - ${lit(cLo)};
  assign below = code < ${lit(cLo)};
  assign above = code > ${lit(cHi)};
  assign p     = ${k >= 0 ? `d <<< ${k}` : `d >>> ${-k}`};
  assign addr  = (below ? 0 : (above || p > ${N - 1}) ? ${N - 1} : p[${A - 1}:0]);
  assign r     = ${u.clamp ? "rom(addr)" : `below ? ${hexW(outCode(u.outside[0]))} : above ? ${hexW(outCode(u.outside[1]))} : rom(addr)`};

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      out_valid <= 1'b0;
      y <= '0;
    end else begin
      out_valid <= in_valid;
      if (in_valid) y <= r;
    end
  end
endmodule
`;
}
