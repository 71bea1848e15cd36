/** The cost model: op trace + hw-model → MACs, lookups, bytes, cycles, energy, ns/day. */
export { costModel, bytesOf, type CostReport, type CostOptions, type StepCost, type Totals, type EnergyBreakdown, type FusionOutcome } from "./model.js";
export { schnetTrace, traceFromRecords, numelOf, type CostTrace, type TraceOp, type TraceOperand } from "./trace.js";
export { energyClass, type EnergyClass } from "./energy.js";
export { candidateKernels, tileRows, type KernelPlan } from "./fusion.js";
export { forwardWork, backwardWork, type Work } from "./work.js";
