/**
 * `hwsim lut export --format sv`: the LUT unit as a synthesizable
 * SystemVerilog module, bit-exact with src/lut/unit.ts, following the port
 * convention of `hwsim rtl` (clk, rst_n, in_valid, x, out_valid, y).
 *
 * Two pipeline stages, one input per cycle:
 *  1. address generator (a shift of the input code: sv-plan.ts) and the ROM
 *     read, registered (a block RAM's synchronous read);
 *  2. interpolation (2^F − w)·T[a] + w·T[a+1] on the exact fixed-point grid of
 *     the entries and one rounding into the output format (sv-round.ts), registered.
 * The ROM (entry-format codes, the words `--format mem` writes) is inlined
 * as a case statement. Interpolation none with entry format = output format
 * skips stage 2's arithmetic: the output is the ROM word.
 */
import { InputError } from "../errors.js";
import type { Format, FloatFormat, IntFormat } from "../formats/descriptor.js";
import { formatBits } from "../formats/descriptor.js";
import { floatLayout } from "../formats/spec.js";
import type { LutUnit } from "./unit.js";
import { romOf, outCode } from "./eval.js";
import { romHeader } from "./rom.js";
import { type AddressPlan, type EntryPlan, addressPlan, entryPlan, checkOutput, bitLength } from "./sv-plan.js";
import { roundOutSv, hexLit } from "./sv-round.js";

const signedLit = (w: number, v: bigint) => (v < 0n ? `-${w}'sd${-v}` : `${w}'sd${v}`);

/** Stage 1a for integer / fixed-point inputs: X = floor(code·2^t0) by an arithmetic shift. */
function intInputSv(f: IntFormat, ap: AddressPlan): { W: number; text: string } {
  const b = f.bits;
  const t0 = -f.frac + ap.k + ap.G;
  const W = Math.max(b + Math.max(t0, 0), bitLength(ap.Lg), bitLength(ap.Hg)) + 2;
  const ext = f.signed ? `{{${W - b}{x[${b - 1}]}}, x}` : `{${W - b}'d0, x}`;
  const shift = t0 >= 0 ? `assign X      = xs <<< ${t0};\n  assign sticky = 1'b0;` : `assign X      = xs >>> ${-t0};\n  assign sticky = |x[${Math.min(-t0, b) - 1}:0];`;
  return {
    W,
    text: `  // X = floor(value·2^${ap.k + ap.G}) of the ${f.name} code (value = code·2^-${f.frac}); sticky: bits shifted out
  logic signed [${W - 1}:0] xs, X;
  logic sticky, nan_in, sat, s_in;
  assign xs     = $signed(${ext});
  ${shift}
  assign nan_in = 1'b0;
  assign sat    = 1'b0;
  assign s_in   = xs < 0;
`,
  };
}

/** Stage 1a for float inputs: X = floor(±m·2^t), t from the exponent field; |x| far beyond the range saturates. */
function floatInputSv(f: FloatFormat, ap: AddressPlan): { W: number; text: string } {
  const L = floatLayout(f);
  const WI = formatBits(f);
  const mb = f.mbits;
  const eb = f.ebits;
  const TSAT = Math.max(bitLength(ap.Lg), bitLength(ap.Hg)) + 1; // m·2^t >= 2^TSAT lies outside [Lg, Hg]
  const W = mb + TSAT + 3;
  const mag = `x[${L.magBits - 1}:0]`;
  const nan =
    f.nan === "ieee" ? `E == ${eb}'h${(2 ** eb - 1).toString(16)} && M != 0`
    : f.nan === "fn" ? `${mag} == ${L.magBits}'h${(2 ** L.magBits - 1).toString(16)}`
    : f.nan === "fnuz" ? `x == ${hexLit(WI, 2 ** L.signShift)}`
    : "1'b0";
  const inf = f.inf ? `${mag} == ${hexLit(L.magBits, L.infMag)}` : "1'b0";
  const tOff = ap.k + ap.G - f.bias - mb;
  return {
    W,
    text: `  // X = floor(value·2^${ap.k + ap.G}) of the ${f.name} code (value = ±m·2^(max(E,1) − ${f.bias + mb})); sticky: bits shifted out
  logic signed [${W - 1}:0] X;
  logic [${W - 1}:0] V;
  logic [${eb - 1}:0] E;
  logic [${mb > 0 ? mb - 1 : 0}:0] M;
  logic [${mb}:0] m;
  logic sticky, nan_in, inf_in, sat, s_in;
  integer t;
  assign s_in   = ${f.signed ? `x[${WI - 1}]` : "1'b0"};
  assign E      = x[${mb + eb - 1}:${mb}];
  assign M      = ${mb > 0 ? `x[${mb - 1}:0]` : "1'b0"};
  assign m      = ${mb > 0 ? "{E != 0, M}" : "E != 0"};
  assign nan_in = ${nan};
  assign inf_in = ${inf};
  always_comb begin
    t = 32'(E);
    t = (E == 0 ? 1 : t) + (${tOff});
    V = '0;
    sticky = 1'b0;
    sat = inf_in;
    if (inf_in || m == 0) ;
    else if (t >= ${TSAT}) sat = 1'b1;
    else if (t >= 0) V = ${W}'(m) << t;
    else if (-t > ${mb + 1}) sticky = 1'b1;
    else begin
      V = ${W}'(m) >> -t;
      sticky = (${W}'(m) & ((${W}'(1) << -t) - 1)) != 0;
    end
    X = s_in ? -$signed(V + ${W}'(sticky)) : $signed(V);
  end
`,
  };
}

/** Decoder of a ROM word into a signed integer multiple of 2^Q (stage 2). */
function entryDecodeSv(f: Format, ep: EntryPlan, WE: number, WT: number): string {
  if (f.kind === "int") {
    // Q = −frac: the code itself
    const ext = f.signed ? `{{${WT - WE}{word[${WE - 1}]}}, word}` : `{${WT - WE}'d0, word}`;
    return `  function automatic logic signed [${WT - 1}:0] dec(input logic [${WE - 1}:0] word);
    dec = $signed(${ext});
  endfunction
`;
  }
  const mb = f.mbits;
  const eb = f.ebits;
  return `  // a ${f.name} ROM word as a signed multiple of 2^${ep.Q} (exact for every word of this ROM)
  function automatic logic signed [${WT - 1}:0] dec(input logic [${WE - 1}:0] word);
    logic [${eb - 1}:0] e;
    logic [${WT - 1}:0] v;
    integer sh;
    e = word[${mb + eb - 1}:${mb}];
    sh = 32'(e);
    sh = (e == 0 ? 1 : sh) - (${f.bias + mb + ep.Q});
    v = ${WT}'(${mb > 0 ? `{e != 0, word[${mb - 1}:0]}` : "e != 0"}) << sh;
    dec = ${f.signed ? `word[${WE - 1}] ? -$signed(v) : $signed(v)` : "$signed(v)"};
  endfunction
`;
}

/** The module text; `where` prefixes refusals (the unit file, "unit.json: "). */
export function formatLutSv(u: LutUnit, module = "hwsim_lut", where = ""): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(module)) throw new InputError(`--module '${module}' is not a Verilog module name`);
  const ap = addressPlan(u, where);
  checkOutput(u, where);
  const linear = u.interpolation === "linear";
  const bypass = !linear && u.entryFormat.name === u.outputFormat.name; // the output is the ROM word
  const ep = bypass ? null : entryPlan(u, where);
  const rom = romOf(u);
  const A = u.addressBits;
  const F = u.fracBits;
  const N = 2 ** A;
  const AF = A + F;
  const WI = formatBits(u.inputFormat);
  const WE = rom.width;
  const WO = formatBits(u.outputFormat);
  const AW = linear ? A + 1 : A;
  const input = u.inputFormat.kind === "int" ? intInputSv(u.inputFormat, ap) : floatInputSv(u.inputFormat, ap);
  const W = input.W;
  const cases = Array.from(rom.codes, (c, a) => `      ${AW}'d${a}: rom = ${hexLit(WE, c)};\n`).join("");
  const oc = (v: number) => hexLit(WO, outCode(u, v));
  // special results of stage 2: NaN in, and without clamp the outside constants
  const special = `k1 == 2'd1 ? ${oc(NaN)} : ${u.clamp ? "" : `k1 == 2'd2 ? ${oc(u.outside[0])} : k1 == 2'd3 ? ${oc(u.outside[1])} : `}`;
  const addr = linear
    ? `  // linear: address a = P >> ${F}, weight w = P mod 2^${F}
  logic [${AW - 1}:0] a_d;
  logic [${F - 1}:0] w_d;
  assign a_d = p[${AF}:${F}];
  assign w_d = p[${F - 1}:0];
`
    : `  // none: address min(P, ${N - 1})
  logic [${AW - 1}:0] a_d;
  assign a_d = p > ${AF + 1}'d${N - 1} ? ${AW}'d${N - 1} : p[${AW - 1}:0];
`;
  // stage 2
  let stage2: string;
  if (bypass) {
    stage2 = `  assign r = ${special}ta;
`;
  } else {
    const e = ep as EntryPlan;
    const WT = e.magBits + 1;
    const WS = e.magBits + F + 1; // |S| < 2^(magBits + F)
    const E2 = e.Q - F;
    // sign bits of the two ROM words (integer entries have no −0)
    const ef = u.entryFormat;
    const sa = ef.kind === "float" && ef.signed ? `ta[${WE - 1}]` : "1'b0";
    const sb = ef.kind === "float" && ef.signed ? `tb[${WE - 1}]` : "1'b0";
    const zneg = !linear
      ? sa
      : `w1 == 0 ? ${sa} : ${u.outputSpec.rounding === "rdown" ? `!(ta_v == 0 && !${sa} && tb_v == 0 && !${sb})` : `ta_v == 0 && ${sa} && tb_v == 0 && ${sb}`}`;
    const sum = linear
      ? `  // exact: (2^${F} − w)·T[a] + w·T[a+1], a multiple of 2^(${E2})
  assign S = ${WS + 1}'(ta_v) * $signed({1'b0, ${F + 1}'d${2 ** F} - ${F + 1}'(w1)}) + ${WS + 1}'(tb_v) * $signed({1'b0, w1});
`
      : `  assign S = ${WS + 1}'(ta_v);
`;
    stage2 = `${entryDecodeSv(u.entryFormat, e, WE, WT)}
${roundOutSv(u, E2, WS)}
  logic signed [${WT - 1}:0] ta_v${linear ? ", tb_v" : ""};
  logic signed [${WS}:0] S;
  logic zneg;
  assign ta_v = dec(ta);
${linear ? "  assign tb_v = dec(tb);\n" : ""}${sum}  // the sign of an exact zero: hwsim's (an f64 sum of the two weighted entries)
  assign zneg = ${zneg};
  assign r = ${special}round_out(S < 0, ${WS}'(S < 0 ? -S : S), zneg);
`;
  }
  const cl = u.clamp;
  return `${romHeader(u).map((l) => `// ${l}\n`).join("")}// rounding: ${u.outputSpec.rounding}, saturating. hwsim lut export --format sv: latency 2, one input per cycle.
// position P = floor((x - lo)*2^${AF}/(hi - lo)) = (floor(value(x)*2^${ap.k + ap.G}) - (${ap.Lg})) >> ${ap.G}, exact
module ${module} (
  input  logic clk,
  input  logic rst_n,
  input  logic in_valid,
  input  logic [${WI - 1}:0] x,
  output logic out_valid,
  output logic [${WO - 1}:0] y
);
  function automatic logic [${WE - 1}:0] rom(input logic [${AW - 1}:0] ra);
    case (ra)
${cases}      default: rom = '0;
    endcase
  endfunction

  // ---- stage 1: address generator and ROM read ----
${input.text}  logic below, above;
  logic signed [${W - 1}:0] D;
  logic [${AF}:0] p;
  logic [1:0] kind;
  assign below = !nan_in && (sat ? s_in : X < ${signedLit(W, ap.Lg)});
  assign above = !nan_in && (sat ? !s_in : X > ${signedLit(W, ap.Hg)} || (X == ${signedLit(W, ap.Hg)} && sticky));
  assign D     = X ${ap.Lg < 0n ? "+" : "-"} ${signedLit(W, ap.Lg < 0n ? -ap.Lg : ap.Lg)};
  // out of range: ${cl ? "the end entries (clamp)" : "the outside constants (no clamp)"}
  assign p     = below ? '0 : above ? ${AF + 1}'d${2 ** AF} : ${AF + 1}'(D >>> ${ap.G});
  assign kind  = nan_in ? 2'd1 : ${cl ? "2'd0" : "below ? 2'd2 : above ? 2'd3 : 2'd0"};
${addr}
  logic v1;
  logic [1:0] k1;
  logic [${WE - 1}:0] ta${linear ? ", tb" : ""};
${linear ? `  logic [${F - 1}:0] w1;\n` : ""}
  // ---- stage 2: ${bypass ? "the ROM word is the output" : "interpolation and rounding"} ----
  logic [${WO - 1}:0] r;
${stage2}
  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      v1 <= 1'b0;
      out_valid <= 1'b0;
      k1 <= '0;
      ta <= '0;${linear ? "\n      tb <= '0;\n      w1 <= '0;" : ""}
      y <= '0;
    end else begin
      v1 <= in_valid;
      if (in_valid) begin
        k1 <= kind;
        ta <= rom(a_d);${linear ? `\n        tb <= rom(a_d + ${AW}'d1);\n        w1 <= w_d;` : ""}
      end
      out_valid <= v1;
      if (v1) y <= r;
    end
  end
endmodule
`;
}
