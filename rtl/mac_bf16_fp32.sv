// bf16 x bf16 -> fp32 sequential fused MAC, K = 4:
//   acc = +0; for k = 0..3: acc = RNE_fp32(acc + a_k * b_k)   (product exact, one rounding per step)
//   y = acc
// Subnormal inputs and results are kept, overflow gives Inf, Inf * 0 and Inf - Inf give NaN,
// every NaN result is the canonical quiet NaN 0x7fc00000. One fused step per cycle:
// a vector is accepted when idle (in_ready high: the unit file says "inReady": true),
// the result appears K + 1 cycles later; then it is ready again.
// hwsim unit: rtl/mac_bf16_fp32.json
module mac_bf16_fp32 (
  input  logic        clk,
  input  logic        rst_n,
  input  logic        in_valid,
  input  logic [15:0] a0, a1, a2, a3,
  input  logic [15:0] b0, b1, b2, b3,
  output logic        out_valid,
  output logic [31:0] y,
  output logic        in_ready
);
  localparam int K = 4;
  localparam int W = 64;           // alignment window: the larger operand's leading bit at W-2

  // acc + a*b, the product exact, rounded once to fp32 (RNE)
  function automatic logic [31:0] fma_step(input logic [31:0] acc, input logic [15:0] a, input logic [15:0] b);
    logic sa, sp, a_nan, b_nan, acc_nan, a_inf, b_inf, acc_inf, a_zero, b_zero;
    logic [23:0] macc;
    logic [15:0] mprod;
    integer lacc, lprod, tacc, tprod, L, sh, p, q, e, i;
    logic [W-1:0] hi, lo, r, kept;
    logic hi_s, lo_s, rs, guard, sticky;
    a_nan   = a[14:7] == 8'hff && a[6:0] != 0;
    b_nan   = b[14:7] == 8'hff && b[6:0] != 0;
    acc_nan = acc[30:23] == 8'hff && acc[22:0] != 0;
    a_inf   = a[14:7] == 8'hff && a[6:0] == 0;
    b_inf   = b[14:7] == 8'hff && b[6:0] == 0;
    acc_inf = acc[30:23] == 8'hff && acc[22:0] == 0;
    a_zero  = a[14:0] == 0;
    b_zero  = b[14:0] == 0;
    sa = acc[31];
    sp = a[15] ^ b[15];
    if (a_nan || b_nan || acc_nan || (a_inf && b_zero) || (b_inf && a_zero) || (acc_inf && (a_inf || b_inf) && sa != sp))
      return 32'h7fc00000;
    if (acc_inf) return acc;
    if (a_inf || b_inf) return {sp, 31'h7f800000};
    // integer significands and the exponents of their lowest bits
    macc  = {acc[30:23] != 0, acc[22:0]};
    lacc  = (acc[30:23] == 0 ? 1 : acc[30:23]) - 127 - 23;
    mprod = {a[14:7] != 0, a[6:0]} * {b[14:7] != 0, b[6:0]};
    lprod = (a[14:7] == 0 ? 1 : a[14:7]) + (b[14:7] == 0 ? 1 : b[14:7]) - 254 - 14;
    // exponents just above their leading bits (-100000: zero)
    tacc = -100000;
    for (i = 0; i < 24; i++) if (macc[i]) tacc = lacc + i + 1;
    tprod = -100000;
    for (i = 0; i < 16; i++) if (mprod[i]) tprod = lprod + i + 1;
    if (macc == 0 && mprod == 0) return {sa & sp, 31'd0};
    // the larger operand fixes the window
    if (tacc >= tprod) begin
      L = tacc - (W - 1);
      hi = W'(macc) << (lacc - L);  hi_s = sa;
      sh = lprod - L;  lo = W'(mprod);  lo_s = sp;
    end else begin
      L = tprod - (W - 1);
      hi = W'(mprod) << (lprod - L);  hi_s = sp;
      sh = lacc - L;  lo = W'(macc);  lo_s = sa;
    end
    if (sh >= 0) lo = lo << sh;
    else if (-sh >= W) lo = {{(W-1){1'b0}}, lo != 0};
    else lo = (lo >> -sh) | W'((lo & ((W'(1) << -sh) - 1)) != 0);   // sticky into bit 0
    if (hi_s == lo_s) begin r = hi + lo; rs = hi_s; end
    else if (hi >= lo) begin r = hi - lo; rs = hi_s; end
    else begin r = lo - hi; rs = lo_s; end
    if (r == 0) return 32'h00000000;                                  // exact cancellation: +0 under RNE
    // round r * 2^L to fp32
    p = 0;
    for (i = 0; i < W; i++) if (r[i]) p = i;
    e = p + L;                                                          // exponent of the leading bit
    q = (e - 23 > -149) ? e - 23 : -149;                                // exponent of the result's lsb
    sh = q - L;
    if (sh <= 0) begin kept = r << -sh; guard = 0; sticky = 0; end
    else if (sh > W) begin kept = 0; guard = 0; sticky = 1; end
    else begin
      kept   = r >> sh;
      guard  = r[sh - 1];
      sticky = (r & ((W'(1) << (sh - 1)) - 1)) != 0;
    end
    kept = kept + (guard & (sticky | kept[0]));
    if (kept[24]) begin kept = kept >> 1; q = q + 1; end
    if (!kept[23]) return {rs, 8'd0, kept[22:0]};                       // subnormal
    if (q + 150 >= 255) return {rs, 31'h7f800000};                      // overflow
    return {rs, 8'(q + 150), kept[22:0]};
  endfunction

  logic [15:0] av [K], bv [K];
  logic [31:0] acc;
  logic [2:0]  step;
  logic        busy;

  assign in_ready = !busy;

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      busy <= 1'b0; out_valid <= 1'b0; step <= 0; acc <= 0; y <= 0;
    end else begin
      out_valid <= 1'b0;
      if (!busy && in_valid) begin
        av[0] <= a0; av[1] <= a1; av[2] <= a2; av[3] <= a3;
        bv[0] <= b0; bv[1] <= b1; bv[2] <= b2; bv[3] <= b3;
        acc <= 32'h00000000; step <= 0; busy <= 1'b1;
      end else if (busy) begin
        if (step == K) begin
          y <= acc; out_valid <= 1'b1; busy <= 1'b0;
        end else begin
          acc <= fma_step(acc, av[step], bv[step]);
          step <= step + 1;
        end
      end
    end
  end
endmodule
