/**
 * ROM export for hardware flows: Verilog `$readmemh` (.mem), Xilinx COE (.coe)
 * and Intel/Altera MIF (.mif). Words are the entry format's codes in hex
 * (two's complement for signed fixed point), address 0 first; each file starts
 * with a comment header that states the encoding.
 */
import { writeFileAtomic } from "../io/atomic-write.js";
import type { LutUnit } from "./unit.js";
import { romOf } from "./eval.js";

export const ROM_FORMATS = ["mem", "coe", "mif"] as const;
export type RomFormat = (typeof ROM_FORMATS)[number];

/** Header lines (without comment markers) describing the encoding. */
export function romHeader(u: LutUnit): string[] {
  const N = 2 ** u.addressBits;
  const grid = u.interpolation === "none" ? `entry k = f(lo + (k + 0.5)*(hi - lo)/${N}), k = 0..${N - 1}` : `entry k = f(lo + k*(hi - lo)/${N}), k = 0..${N}`;
  const params = Object.keys(u.params).length ? " " + JSON.stringify(u.params) : "";
  const width = romOf(u).width;
  return [
    "hwsim LUT ROM",
    `function: ${u.fn.name}${params} (${u.fn.description})`,
    `range: [${u.lo}, ${u.hi}]  clamp: ${u.clamp ? "yes (out-of-range inputs read the end entries)" : "no"}`,
    `address bits: ${u.addressBits}  depth: ${u.depth} words  address = floor((x - lo)*2^${u.addressBits}/(hi - lo))${u.interpolation === "linear" ? " (integer part)" : ", max " + (N - 1)}`,
    `interpolation: ${u.interpolation}${u.interpolation === "linear" ? ` (weight: next ${u.fracBits} bits of the position; out = T[a] + w*(T[a+1] - T[a]), exact then rounded once)` : ""}`,
    `grid: ${grid}`,
    `entry format: ${u.entryFormat.name}  word width: ${width} bits  rounding: ${u.entrySpec.rounding}, saturating`,
    `input format: ${u.inputFormat.name}${u.inputScale !== 1 ? ` x ${u.inputScale}` : ""}  output format: ${u.outputFormat.name}`,
  ];
}

function hex(code: number, digits: number): string {
  return code.toString(16).padStart(digits, "0");
}

/** The file text of the unit's ROM in the given format. */
export function formatRom(u: LutUnit, kind: RomFormat): string {
  const rom = romOf(u);
  const digits = Math.ceil(rom.width / 4);
  const words = Array.from(rom.codes, (c) => hex(c, digits));
  const head = romHeader(u);
  switch (kind) {
    case "mem":
      return head.map((l) => `// ${l}\n`).join("") + words.map((w) => `${w}\n`).join("");
    case "coe":
      return (
        head.map((l) => `; ${l}\n`).join("") +
        "memory_initialization_radix=16;\nmemory_initialization_vector=\n" +
        words.join(",\n") +
        ";\n"
      );
    case "mif": {
      const ad = Math.max(1, Math.ceil(Math.log2(rom.codes.length) / 4));
      return (
        head.map((l) => `-- ${l}\n`).join("") +
        `\nWIDTH=${rom.width};\nDEPTH=${rom.codes.length};\n\nADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\n\nCONTENT BEGIN\n` +
        words.map((w, i) => `\t${hex(i, ad)} : ${w};\n`).join("") +
        "END;\n"
      );
    }
  }
}

/** Write the ROM file; refuses to overwrite unless `overwrite`. */
export function writeRom(path: string, u: LutUnit, kind: RomFormat, opts: { overwrite?: boolean } = {}): void {
  writeFileAtomic(path, formatRom(u, kind), opts);
}
