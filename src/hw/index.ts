/** Hardware models: files, presets, extends resolution and the precision-policy lookup. */
export * from "./types.js";
export { loadHwModel, loadMergedHwModel, resolveHwObject, validateHwFile, resolveHwPath, deepMerge, displayPath, type MergedHwModel } from "./resolve.js";
export { policyFor, matchPolicy, type PolicyChoice } from "./policy.js";
export { listPresets, presetNames, presetPath, presetDir, schemaPath, type PresetInfo } from "./presets.js";
export { DEFAULT_ENERGY } from "./energy.js";
export { formatProblem, hwFormatBits, isFp64Name } from "./formats.js";
export { assignmentSummary, selectorSummary } from "./describe.js";
