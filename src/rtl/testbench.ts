/**
 * The SystemVerilog testbench around a unit (port convention of issue 16):
 *
 *   module TOP (input logic clk, rst_n, in_valid, input logic [w-1:0] <input fields>,
 *               output logic out_valid, output logic [w-1:0] <output fields>);
 *
 * Reset is held low for 4 cycles. Each vector is presented for one cycle with
 * in_valid = 1 (inputs change on the falling edge); the next vector follows
 * once out_valid has been seen, so any latency (combinational to many cycles,
 * pipelined or not) works. Every rising edge with out_valid = 1 writes the
 * output fields (concatenated, hex) as one line of outputs.hex.
 */
import type { RtlUnit } from "./unit.js";
import { totalWidth } from "./vectors.js";

/** Cycles the testbench waits for one result before it gives up. */
export const RESULT_TIMEOUT_CYCLES = 100000;

export function testbenchSv(u: RtlUnit, top: string, count: number, dir = "."): string {
  const iw = totalWidth(u.inputs);
  const decl = (fs: typeof u.inputs, kind: string) => fs.map((f) => `  ${kind} [${f.width - 1}:0] ${f.name};\n`).join("");
  const path = (n: string) => JSON.stringify(dir === "." ? n : `${dir}/${n}`);
  return `// hwsim rtl testbench: ${count} vectors for module ${top} (generated; see manifest.json)
\`timescale 1ns/1ps
module hwsim_tb;
  localparam int N = ${count};
  localparam int TIMEOUT = ${RESULT_TIMEOUT_CYCLES};
  logic clk = 1'b0;
  logic rst_n = 1'b0;
  logic in_valid = 1'b0;
${decl(u.inputs, "logic")}  logic out_valid;
${decl(u.outputs, "logic")}  logic [${iw - 1}:0] vin [0:N-1];
  integer fd, i, got, waited;

  ${top} dut (.clk(clk), .rst_n(rst_n), .in_valid(in_valid),
${u.inputs.map((f) => `    .${f.name}(${f.name}),\n`).join("")}    .out_valid(out_valid)${u.outputs.map((f) => `,\n    .${f.name}(${f.name})`).join("")});

  always #5 clk = ~clk;

  always @(posedge clk) begin
    if (rst_n && out_valid) begin
      $fwrite(fd, "%h\\n", {${u.outputs.map((f) => f.name).join(", ")}});
      got = got + 1;
    end
  end

  initial begin
    got = 0;
    {${u.inputs.map((f) => f.name).join(", ")}} = '0;
    $readmemh(${path("inputs.hex")}, vin);
    fd = $fopen(${path("outputs.hex")}, "w");
    repeat (4) @(negedge clk);
    rst_n = 1'b1;
    for (i = 0; i < N; i = i + 1) begin
      @(negedge clk);
      {${u.inputs.map((f) => f.name).join(", ")}} = vin[i];
      in_valid = 1'b1;
      @(negedge clk);
      in_valid = 1'b0;
      waited = 0;
      while (got <= i && waited < TIMEOUT) begin
        @(negedge clk);
        waited = waited + 1;
      end
      if (got <= i) begin
        $display("hwsim: no result for vector %0d within %0d cycles", i, TIMEOUT);
        i = N;
      end
    end
    @(negedge clk);
    $fclose(fd);
    $display("hwsim: %0d vectors, %0d results", N, got);
    $finish;
  end
endmodule
`;
}
