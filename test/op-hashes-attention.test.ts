// Every op output of attention, forward and backward, on every preset: unchanged bits (test/helpers/op-hash-suite.ts).
import { opHashSuite } from "./helpers/op-hash-suite.js";

opHashSuite("attention");
