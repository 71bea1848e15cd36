// fp32 -> bf16 cast, round to nearest even, IEEE overflow (to Inf), subnormals kept,
// every NaN -> the canonical quiet NaN 0x7fc0. Latency 1 (registered output).
// hwsim unit: rtl/cast_fp32_bf16.json
module cast_fp32_bf16 (
  input  logic        clk,
  input  logic        rst_n,
  input  logic        in_valid,
  input  logic [31:0] x,
  output logic        out_valid,
  output logic [15:0] y
);
  logic        is_nan, lsb, guard, sticky;
  logic [15:0] r;

  assign is_nan = (x[30:23] == 8'hff) && (x[22:0] != 23'd0);
  assign lsb    = x[16];
  assign guard  = x[15];
  assign sticky = |x[14:0];
  // a carry out of the significand moves into the exponent: max finite + 1/2 ulp becomes Inf
  assign r = is_nan ? 16'h7fc0 : x[31:16] + {15'd0, guard & (sticky | lsb)};

  always_ff @(posedge clk or negedge rst_n) begin
    if (!rst_n) begin
      out_valid <= 1'b0;
      y         <= 16'd0;
    end else begin
      out_valid <= in_valid;
      if (in_valid) y <= r;
    end
  end
endmodule
