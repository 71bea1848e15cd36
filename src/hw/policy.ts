/**
 * The precision-policy lookup: which assignment an op gets.
 *
 * The rules of the pass are tried in order; the FIRST rule whose selectors
 * all hold wins (`match`: the glob matches the whole op name; `kind`: equal
 * to the op's kind; an absent selector always holds). No rule → the pass's
 * `default`. The winning assignment is used as written (no merging with the
 * default); only weight quantisation falls back: a linear op whose
 * assignment has no `weights` gets the model's top-level `weights`.
 */
import { globMatches } from "../models/op-names.js";
import type { Assignment, Pass, ResolvedHwModel } from "./types.js";

export interface PolicyChoice {
  assignment: Assignment;
  /** Where it came from: the rule's origin, or `<pass>.default`. */
  source: string;
}

/** Op kinds whose weights the top-level `weights` quantises. */
const WEIGHTED_KINDS = new Set(["linear"]);

export function matchPolicy(model: ResolvedHwModel, pass: Pass, opName: string, opKind: string): PolicyChoice {
  const pol = model[pass];
  let chosen: Assignment = pol.default;
  let source = `${pass}.default`;
  for (const r of pol.rules) {
    if (r.match !== undefined && !globMatches(r.match, opName)) continue;
    if (r.kind !== undefined && r.kind !== opKind) continue;
    chosen = r;
    source = r.origin;
    break;
  }
  const assignment: Assignment = {};
  if (chosen.datapath) assignment.datapath = structuredClone(chosen.datapath);
  if (chosen.lut) assignment.lut = structuredClone(chosen.lut);
  if (chosen.softmax) assignment.softmax = structuredClone(chosen.softmax);
  if (chosen.weights) assignment.weights = structuredClone(chosen.weights);
  else if (model.weights && WEIGHTED_KINDS.has(opKind)) assignment.weights = structuredClone(model.weights);
  return { assignment, source };
}

/** The assignment of op `opName` (kind `opKind`) in the forward or backward pass. */
export function policyFor(model: ResolvedHwModel, pass: Pass, opName: string, opKind: string): Assignment {
  return matchPolicy(model, pass, opName, opKind).assignment;
}
