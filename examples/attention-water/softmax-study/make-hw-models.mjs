// Writes the hw-models of the softmax study (README.md beside this file): each softmax unit at
// each width put into the trained attention model, on two otherwise fixed datapaths:
//   bf16-*  extends the preset bf16-linear-fp32acc (bf16 linear layers, fp32 accumulation, rest fp32);
//   int8-*  extends the preset int8-lut (int8 linear layers, 8-bit SiLU LUT) with its softmax replaced.
// Run from this folder: node make-hw-models.mjs (rewrites the JSON files; deterministic).
import { writeFileSync } from "node:fs";

const UNITS = ["lut-rexp", "lut-2d", "ibert", "base2"];
const BITS = { bf16: [6, 8, 10, 12], int8: [8] };
const BASE = { bf16: "bf16-linear-fp32acc", int8: "int8-lut" };
const names = [];
for (const dp of ["bf16", "int8"]) {
  const points = [["exact", null], ...UNITS.flatMap((u) => BITS[dp].map((b) => [u, b]))];
  for (const [kind, bits] of points) {
    const name = `${dp}-${kind}${bits ? `-${bits}` : ""}`;
    const softmax = bits ? { kind, bits } : { kind };
    const hw = {
      $schema: "../../../hw-models/schema.json",
      name,
      extends: BASE[dp],
      description: `softmax study: ${bits ? `${bits}-bit ${kind}` : "exact"} softmax on ${BASE[dp]} (examples/attention-water/softmax-study)`,
      forward: { rules: [{ kind: "softmax", softmax }] },
    };
    writeFileSync(`${name}.json`, JSON.stringify(hw, null, 2) + "\n");
    names.push(name);
  }
}
console.log(names.join(" "));
