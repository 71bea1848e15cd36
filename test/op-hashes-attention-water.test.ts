// Every op output of the trained smooth attention model (layout 2, conservative forces), forward and backward: unchanged bits (test/helpers/op-hash-suite.ts).
import { opHashSuite } from "./helpers/op-hash-suite.js";

opHashSuite("attention-water");
