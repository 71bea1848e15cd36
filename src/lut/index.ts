/** LUT units: description, ROM, evaluation, exhaustive characterisation, ROM files. */
export { LUT_FUNCTIONS, LUT_FUNCTION_ALIASES, LUT_TABLE, LUT_FN_NAMES, LUT_KINDS, lutShortName, lutFunction, erf, softplus, type LutFunction, type LutParams } from "./functions.js";
export { parseLutUnit, type LutUnit, type LutUnitDesc, type Interpolation } from "./unit.js";
export { lutGrid, lutTable, lutRomBytes, type LutTable } from "./table.js";
export { lutEvalCodes, lutEvalValues, lutRoundAndEval, lutApply, lutPositions, romOf, type LutPositions } from "./eval.js";
export { characterizeLut, inputDomain, ulpOf, MAX_CHARACTERIZE_BITS, type LutCharacterization, type OutOfRangeStats } from "./characterize.js";
export { formatRom, writeRom, romHeader, ROM_FORMATS, type RomFormat } from "./rom.js";
export { parseMem, parseCoe, parseMif, type ParsedRom } from "./rom-parse.js";
