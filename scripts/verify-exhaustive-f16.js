// Exhaustive check: every one of the 2^32 float32 bit patterns converted to
// float16 by hwsim (RNE, default overflow) equals @petamoriken/float16's
// conversion (an independent implementation). NaN inputs only need a NaN out.
//   npm run verify:exhaustive                 SIMD build, fast path
//   npm run verify:exhaustive -- --generic    generic one-rounding kernel
//   HWSIM_WASM=scalar npm run verify:exhaustive -- …   scalar build
// Prints the run time; exits 1 on the first mismatch.
import { Float16Array } from "@petamoriken/float16";
import { encode } from "../dist/src/formats/cast.js";
import { parseFormat } from "../dist/src/formats/descriptor.js";

const generic = process.argv.includes("--generic");
const f16 = parseFormat("float16");
const CHUNK = 1 << 24;
const bits = new Uint32Array(CHUNK);
const x = new Float32Array(bits.buffer);
const t0 = process.hrtime.bigint();
let oursNs = 0n;
let checked = 0;
for (let base = 0; base < 2 ** 32; base += CHUNK) {
  for (let i = 0; i < CHUNK; i++) bits[i] = base + i;
  const t = process.hrtime.bigint();
  const ours = encode(x, f16, { generic });
  oursNs += process.hrtime.bigint() - t;
  const ref = new Uint16Array(new Float16Array(x).buffer);
  for (let i = 0; i < CHUNK; i++) {
    if (ours[i] === ref[i]) continue;
    const nanRef = (ref[i] & 0x7c00) === 0x7c00 && (ref[i] & 0x3ff) !== 0;
    const nanOurs = (ours[i] & 0x7c00) === 0x7c00 && (ours[i] & 0x3ff) !== 0;
    if (nanRef && nanOurs) continue;
    console.error(`MISMATCH at float32 bits 0x${(base + i).toString(16)} (${x[i]}): hwsim 0x${ours[i].toString(16)}, @petamoriken/float16 0x${ref[i].toString(16)}`);
    process.exit(1);
  }
  checked += CHUNK;
  if ((base / CHUNK) % 32 === 31) process.stderr.write(`  ${(checked / 2 ** 32 * 100).toFixed(0)}%\n`);
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`all 2^32 float32 inputs agree with @petamoriken/float16 (${generic ? "generic kernel" : "fast path"}, ${process.env.HWSIM_WASM === "scalar" ? "scalar" : "simd"} build)`);
console.log(`total ${secs.toFixed(1)} s; hwsim's conversion itself ${(Number(oursNs) / 1e9).toFixed(1)} s (${(2 ** 32 / (Number(oursNs) / 1e9) / 1e6).toFixed(0)} M values/s)`);
