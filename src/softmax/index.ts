/** Softmax units: exact, lut-rexp, lut-2d, ibert, base2 (semantics in units.ts). */
export {
  SOFTMAX_KINDS, parseSoftmaxUnit, presetParams,
  type SoftmaxKind, type SoftmaxUnit, type ResolvedSoftmaxUnit, type ResolvedParams,
  type ExactUnit, type RexpUnit, type Lut2dUnit, type IbertUnit, type Base2Unit,
} from "./units.js";
export { softmax, softmaxBackward, softmaxLutBytes, unitTables, type SoftmaxOptions } from "./softmax.js";
export { softmaxErrorReport, compareSoftmax, type SoftmaxErrorReport } from "./report.js";
export {
  expTable, recipTable, lut2dTable, lut2dShape, powTable, ibertConstants, coordRep, softmaxTables, tableBytes, IBERT,
  type SoftmaxTable, type IbertConstants,
} from "./tables.js";
