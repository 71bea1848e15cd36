// Every op output of the trained water MACE, forward and backward, on the MACE presets and SR everywhere: unchanged bits (test/helpers/op-hash-suite.ts).
import { opHashSuite } from "./helpers/op-hash-suite.js";

opHashSuite("mace-water");
