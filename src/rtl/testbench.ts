/**
 * The SystemVerilog testbench around a unit (port convention of issue 16):
 *
 *   module TOP (input logic clk, rst_n, in_valid, input logic [w-1:0] <input fields>,
 *               output logic out_valid, output logic [w-1:0] <output fields>
 *               [, output logic in_ready]);
 *
 * Reset is held low for 4 cycles. The vectors stream: from the falling edge
 * after reset, in_valid stays high and the inputs hold the next vector until
 * all are delivered; a vector is delivered at each rising edge with in_valid
 * high — and in_ready high, when the unit description says `"inReady": true`
 * (a unit that cannot take one input per cycle stalls the stream that way).
 * Every rising edge with out_valid = 1 writes the output fields
 * (concatenated, hex) as one line of outputs.hex: results in order, any fixed
 * or variable latency. The testbench stops when every vector is delivered
 * and answered, or after STALL_TIMEOUT_CYCLES cycles without progress, and
 * prints the cycles from the first delivery to the last result (the
 * throughput `rtl check` reports).
 */
import type { RtlUnit } from "./unit.js";
import { totalWidth } from "./vectors.js";

/** Cycles without progress (no vector delivered, no result) before the testbench gives up. */
export const STALL_TIMEOUT_CYCLES = 100000;

export function testbenchSv(u: RtlUnit, top: string, count: number, dir = "."): string {
  const iw = totalWidth(u.inputs);
  const decl = (fs: typeof u.inputs, kind: string) => fs.map((f) => `  ${kind} [${f.width - 1}:0] ${f.name};\n`).join("");
  const path = (n: string) => JSON.stringify(dir === "." ? n : `${dir}/${n}`);
  const ins = `{${u.inputs.map((f) => f.name).join(", ")}}`;
  return `// hwsim rtl testbench: ${count} vectors for module ${top} (generated; see manifest.json)
\`timescale 1ns/1ps
module hwsim_tb;
  localparam int N = ${count};
  localparam int TIMEOUT = ${STALL_TIMEOUT_CYCLES};
  logic clk = 1'b0;
  logic rst_n = 1'b0;
  logic in_valid = 1'b0;
${decl(u.inputs, "logic")}  logic out_valid;
${decl(u.outputs, "logic")}  logic in_ready;
  logic [${iw - 1}:0] vin [0:N-1];
  integer fd;
  // initialised here, not in the initial block: under Verilator 5.006, first and last zeroed there
  // stayed 0 although the always block below assigned them (seen; iverilog was right either way)
  integer sent = 0, got = 0, idle = 0, cycle = 0, first = 0, last = 0;

  ${top} dut (.clk(clk), .rst_n(rst_n), .in_valid(in_valid),
${u.inputs.map((f) => `    .${f.name}(${f.name}),\n`).join("")}    .out_valid(out_valid)${u.outputs.map((f) => `,\n    .${f.name}(${f.name})`).join("")}${u.inReady ? ",\n    .in_ready(in_ready)" : ""});
${u.inReady ? "" : "  assign in_ready = 1'b1; // no in_ready port: every cycle with in_valid delivers a vector\n"}
  always #5 clk = ~clk;

  // each rising edge: a result when out_valid, a delivered vector when in_valid && in_ready
  always @(posedge clk) begin
    if (rst_n) begin
      cycle = cycle + 1;
      idle = idle + 1;
      if (out_valid) begin
        $fwrite(fd, "%h\\n", {${u.outputs.map((f) => f.name).join(", ")}});
        got = got + 1;
        last = cycle;
        idle = 0;
      end
      if (in_valid && in_ready) begin
        if (sent == 0) first = cycle;
        sent = sent + 1;
        idle = 0;
      end
    end
  end

  initial begin
    ${ins} = '0;
    $readmemh(${path("inputs.hex")}, vin);
    fd = $fopen(${path("outputs.hex")}, "w");
    repeat (4) @(negedge clk);
    rst_n = 1'b1;
    // inputs change on falling edges: the next vector, held until delivered
    while ((sent < N || got < N) && idle < TIMEOUT) begin
      if (sent < N) begin
        ${ins} = vin[sent];
        in_valid = 1'b1;
      end else begin
        in_valid = 1'b0;
      end
      @(negedge clk);
    end
    in_valid = 1'b0;
    if (idle >= TIMEOUT) $display("hwsim: no progress for %0d cycles: %0d of %0d vectors delivered, %0d results", TIMEOUT, sent, N, got);
    @(negedge clk);
    $fclose(fd);
    $display("hwsim: %0d vectors, %0d results, %0d cycles from the first input to the last result", N, got, got > 0 ? last - first + 1 : 0);
    $finish;
  end
endmodule
`;
}
