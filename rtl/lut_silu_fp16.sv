// hwsim LUT ROM
// function: silu (x·sigmoid(x) = x/(1+e^-x))
// range: [-8, 8]  clamp: yes (out-of-range inputs read the end entries)
// address bits: 6  depth: 65 words  address = floor((x - lo)*2^6/(hi - lo)) (integer part)
// interpolation: linear (weight: next 8 bits of the position; out = T[a] + w*(T[a+1] - T[a]), exact then rounded once)
// grid: entry k = f(lo + k*(hi - lo)/64), k = 0..64
// entry format: float16  word width: 16 bits  rounding: rne, saturating
// input format: float16  output format: float16
// rounding: rne, saturating. hwsim lut export --format sv: latency 2, one input per cycle.
// position P = floor((x - lo)*2^14/(hi - lo)) = (floor(value(x)*2^10) - (-8192)) >> 0, exact
module lut_silu_fp16 (
  input  logic clk,
  input  logic rst_n,
  input  logic in_valid,
  input  logic [15:0] x,
  output logic out_valid,
  output logic [15:0] y
);
  function automatic logic [15:0] rom(input logic [6:0] ra);
    case (ra)
      7'd0: rom = 16'h997f;
      7'd1: rom = 16'h9ad5;
      7'd2: rom = 16'h9c3f;
      7'd3: rom = 16'h9d45;
      7'd4: rom = 16'h9e88;
      7'd5: rom = 16'ha00b;
      7'd6: rom = 16'ha0ff;
      7'd7: rom = 16'ha22a;
      7'd8: rom = 16'ha399;
      7'd9: rom = 16'ha4ac;
      7'd10: rom = 16'ha5bb;
      7'd11: rom = 16'ha704;
      7'd12: rom = 16'ha849;
      7'd13: rom = 16'ha937;
      7'd14: rom = 16'haa54;
      7'd15: rom = 16'haba7;
      7'd16: rom = 16'hac9b;
      7'd17: rom = 16'had84;
      7'd18: rom = 16'hae91;
      7'd19: rom = 16'hafc4;
      7'd20: rom = 16'hb08e;
      7'd21: rom = 16'hb14a;
      7'd22: rom = 16'hb212;
      7'd23: rom = 16'hb2dd;
      7'd24: rom = 16'hb3a1;
      7'd25: rom = 16'hb425;
      7'd26: rom = 16'hb461;
      7'd27: rom = 16'hb474;
      7'd28: rom = 16'hb44e;
      7'd29: rom = 16'hb3b3;
      7'd30: rom = 16'hb20a;
      7'd31: rom = 16'haf01;
      7'd32: rom = 16'h0;
      7'd33: rom = 16'h307f;
      7'd34: rom = 16'h34fb;
      7'd35: rom = 16'h3813;
      7'd36: rom = 16'h39d9;
      7'd37: rom = 16'h3bc6;
      7'd38: rom = 16'h3ce8;
      7'd39: rom = 16'h3df7;
      7'd40: rom = 16'h3f0c;
      7'd41: rom = 16'h4012;
      7'd42: rom = 16'h409f;
      7'd43: rom = 16'h412b;
      7'd44: rom = 16'h41b7;
      7'd45: rom = 16'h4242;
      7'd46: rom = 16'h42cb;
      7'd47: rom = 16'h4354;
      7'd48: rom = 16'h43db;
      7'd49: rom = 16'h4431;
      7'd50: rom = 16'h4473;
      7'd51: rom = 16'h44b6;
      7'd52: rom = 16'h44f7;
      7'd53: rom = 16'h4539;
      7'd54: rom = 16'h457a;
      7'd55: rom = 16'h45bb;
      7'd56: rom = 16'h45fc;
      7'd57: rom = 16'h463d;
      7'd58: rom = 16'h467e;
      7'd59: rom = 16'h46be;
      7'd60: rom = 16'h46fe;
      7'd61: rom = 16'h473f;
      7'd62: rom = 16'h477f;
      7'd63: rom = 16'h47bf;
      7'd64: rom = 16'h47ff;
      default: rom = '0;
    endcase
  endfunction

  // ---- stage 1: address generator and ROM read ----
  // X = floor(value·2^10) of the float16 code (value = ±m·2^(max(E,1) − 25)); sticky: bits shifted out
  logic signed [27:0] X;
  logic [27:0] V;
  logic [4:0] E;
  logic [9:0] M;
  logic [10:0] m;
  logic sticky, nan_in, inf_in, sat, s_in;
  integer t;
  assign s_in   = x[15];
  assign E      = x[14:10];
  assign M      = x[9:0];
  assign m      = {E != 0, M};
  assign nan_in = E == 5'h1f && M != 0;
  assign inf_in = x[14:0] == 15'h7c00;
  always_comb begin
    t = 32'(E);
    t = (E == 0 ? 1 : t) + (-15);
    V = '0;
    sticky = 1'b0;
    sat = inf_in;
    if (inf_in || m == 0) ;
    else if (t >= 15) sat = 1'b1;
    else if (t >= 0) V = 28'(m) << t;
    else if (-t > 11) sticky = 1'b1;
    else begin
      V = 28'(m) >> -t;
      sticky = (28'(m) & ((28'(1) << -t) - 1)) != 0;
    end
    X = s_in ? -$signed(V + 28'(sticky)) : $signed(V);
  end
  logic below, above;
  logic signed [27:0] D;
  logic [14:0] p;
  logic [1:0] kind;
  assign below = !nan_in && (sat ? s_in : X < -28'sd8192);
  assign above = !nan_in && (sat ? !s_in : X > 28'sd8192 || (X == 28'sd8192 && sticky));
  assign D     = X + 28'sd8192;
  // out of range: the end entries (clamp)
  assign p     = below ? '0 : above ? 15'd16384 : 15'(D >>> 0);
  assign kind  = nan_in ? 2'd1 : 2'd0;
  // linear: address a = P >> 8, weight w = P mod 2^8
  logic [6:0] a_d;
  logic [7:0] w_d;
  assign a_d = p[14:8];
  assign w_d = p[7:0];

  logic v1;
  logic [1:0] k1;
  logic [15:0] ta, tb;
  logic [7:0] w1;

  // ---- stage 2: interpolation and rounding ----
  logic [15:0] r;
  // a float16 ROM word as a signed multiple of 2^-19 (exact for every word of this ROM)
  function automatic logic signed [22:0] dec(input logic [15:0] word);
    logic [4:0] e;
    logic [22:0] v;
    integer sh;
    e = word[14:10];
    sh = 32'(e);
    sh = (e == 0 ? 1 : sh) - (6);
    v = 23'({e != 0, word[9:0]}) << sh;
    dec = word[15] ? -$signed(v) : $signed(v);
  endfunction

  // ±mag·2^(-27) rounded once into float16 (rne, saturating); zneg: the sign of a zero mag
  function automatic logic [15:0] round_out(input logic neg, input logic [30:0] mag, input logic zneg);
    logic [42:0] n, rem, half;
    logic inexact, gt_half, eq_half, up;
    integer sh;
    integer msb, e_eff, be, i;
    logic [63:0] cw;
    msb = 0;
    for (i = 0; i < 31; i = i + 1) if (mag[i]) msb = i;
    e_eff = -27 + msb > -14 ? -27 + msb : -14;
    sh = e_eff - 10 - (-27);
    if (sh <= 0) begin
      n = 43'(mag) << -sh;
      inexact = 1'b0; gt_half = 1'b0; eq_half = 1'b0;
    end else begin
      n    = sh >= 31 ? '0 : 43'(mag) >> sh;
      rem  = sh >= 31 ? 43'(mag) : 43'(mag) & ((43'(1) << sh) - 1);
      half = sh > 31 ? '0 : 43'(1) << (sh - 1);
      inexact = rem != 0;
      gt_half = sh > 31 ? 1'b0 : rem > half;
      eq_half = sh > 31 ? 1'b0 : rem == half;
    end
    up = inexact && (gt_half || (eq_half && n[0]));
    n = n + 43'(up);
    be = e_eff - (-14) + 0; // the biased exponent field
    cw = 64'(n) + (64'(be) << 10);
    if (mag == 0) round_out = zneg ? 16'h8000 : 16'h0;
    else if (e_eff > 19) round_out = neg ? 16'hfbff : 16'h7bff;
    else if (n == 0) round_out = neg ? 16'h8000 : 16'h0;
    else if (cw > 64'd31743) round_out = neg ? 16'hfbff : 16'h7bff;
    else round_out = {neg, 15'(cw)};
  endfunction

  logic signed [22:0] ta_v, tb_v;
  logic signed [31:0] S;
  logic zneg;
  assign ta_v = dec(ta);
  assign tb_v = dec(tb);
  // exact: (2^8 − w)·T[a] + w·T[a+1], a multiple of 2^(-27)
  assign S = 32'(ta_v) * $signed({1'b0, 9'd256 - 9'(w1)}) + 32'(tb_v) * $signed({1'b0, w1});
  // the sign of an exact zero: hwsim's (an f64 sum of the two weighted entries)
  assign zneg = w1 == 0 ? ta[15] : ta_v == 0 && ta[15] && tb_v == 0 && tb[15];
  assign r = k1 == 2'd1 ? 16'h7e00 : round_out(S < 0, 31'(S < 0 ? -S : S), zneg);

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      v1 <= 1'b0;
      out_valid <= 1'b0;
      k1 <= '0;
      ta <= '0;
      tb <= '0;
      w1 <= '0;
      y <= '0;
    end else begin
      v1 <= in_valid;
      if (in_valid) begin
        k1 <= kind;
        ta <= rom(a_d);
        tb <= rom(a_d + 7'd1);
        w1 <= w_d;
      end
      out_valid <= v1;
      if (v1) y <= r;
    end
  end
endmodule
