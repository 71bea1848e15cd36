/**
 * hwsim against e3nn 0.6.0's and mace-torch's own source run on a CPU machine
 * (tools/mace_golden_local.py → test/fixtures/mace/mace_local_golden.json):
 * mace's U matrices (`U_matrix_real`, no cuequivariance), e3nn's o3.Linear,
 * FullyConnectedTensorProduct with one-hot inputs (mace's skip_tp) and the
 * normalised-SiLU constant, to 1e-12. That environment (torch 1.13 with two
 * import shims) is first checked against the GPU machine's e3nn: its 3j
 * symbols agree with e3nn_golden.json to 1e-15.
 */
import { describe, expect, it } from "vitest";
import { ReferenceOps } from "../src/backends/reference.js";
import { irrepsDim, parseIrreps } from "../src/models/mace/irreps.js";
import { uMatrix } from "../src/models/mace/u-matrix.js";
import { elementLinearMatrix, irrepsLinearMatrix } from "../src/models/mace/linear-maps.js";
import { SILU_2MOM } from "../src/models/mace/model.js";
import { maceFixture, maxErr } from "./helpers/mace-fixtures.js";

const L = maceFixture<{
  e3nn_version: string;
  wigner_3j: { l: number[]; values: number[] }[];
  u_matrices: { coupling: string; irrep_out: string; correlation: number; shape: number[]; nonzeros: [number, number][] }[];
  linear: { irreps_in: string; irreps_out: string; weight: number[]; x: number[]; y: number[]; rows: number };
  fctp: { irreps_in: string; irreps_out: string; elements: number[]; weight: number[]; x: number[]; y: number[] };
  normalize2mom_silu: number;
}>("mace_local_golden.json");
const GPU = maceFixture<{ wigner_3j: { l: number[]; values: number[] }[] }>("e3nn_golden.json");


describe("mace-torch / e3nn source golden data (CPU)", () => {
  it("the environment reproduces the GPU machine's e3nn 0.6.0 (3j symbols to 1e-15)", () => {
    expect(L.e3nn_version).toBe("0.6.0");
    expect(L.wigner_3j.map((w) => w.l)).toEqual(GPU.wigner_3j.map((w) => w.l));
    L.wigner_3j.forEach((w, i) => expect(maxErr(w.values, GPU.wigner_3j[i].values)).toBeLessThanOrEqual(1e-15));
  });

  it(`U matrices: all ${L.u_matrices.length} (coupling l ≤ 3 and l ≤ 2; outputs 0e, 1o, 2e; ν = 1 … 3)`, () => {
    for (const g of L.u_matrices) {
      const what = `${g.coupling} → ${g.irrep_out}, ν = ${g.correlation}`;
      const [out] = parseIrreps(g.irrep_out);
      const U = uMatrix(parseIrreps(g.coupling), out, g.correlation);
      // mace squeezes the leading 1 of a scalar output; the flat order is the same.
      expect(g.shape, what).toEqual([...(out.l === 0 ? [] : [2 * out.l + 1]), ...Array(g.correlation).fill(U.dim), U.paths]);
      const want = new Float64Array(U.values.length);
      for (const [i, v] of g.nonzeros) want[i] = v;
      expect(maxErr(U.values, want), what).toBeLessThanOrEqual(1e-12);
    }
  });

  it("o3.Linear as a dense matrix on the linear op", () => {
    const g = L.linear;
    const inp = parseIrreps(g.irreps_in), out = parseIrreps(g.irreps_out);
    const M = irrepsLinearMatrix(inp, out, Float64Array.from(g.weight));
    const o = new ReferenceOps();
    const y = o.linear("lin", o.input("x", Float64Array.from(g.x), [g.rows, irrepsDim(inp)]), o.param("w", M, [irrepsDim(out), irrepsDim(inp)]));
    expect(maxErr(y.data, g.y)).toBeLessThanOrEqual(1e-12);
  });

  it("FullyConnectedTensorProduct with one-hot elements (skip_tp) as masked copies and one linear", () => {
    const g = L.fctp;
    const inp = parseIrreps(g.irreps_in), out = parseIrreps(g.irreps_out);
    const Z = 3, N = g.elements.length, dIn = irrepsDim(inp);
    const o = new ReferenceOps();
    const x = o.input("x", Float64Array.from(g.x), [N, dIn]);
    const masked = Array.from({ length: Z }, (_, z) => o.scaleRows(`select.${z}`, x, o.param(`hot.${z}`, Float64Array.from(g.elements, (e) => (e === z ? 1 : 0)), [N])));
    const M = elementLinearMatrix(inp, Z, out, Float64Array.from(g.weight));
    const y = o.linear("skip_tp", o.concat("cat", masked), o.param("w", M, [irrepsDim(out), Z * dIn]));
    expect(maxErr(y.data, g.y)).toBeLessThanOrEqual(1e-12);
  });

  it("the normalised SiLU factor is e3nn's", () => {
    expect(SILU_2MOM).toBe(L.normalize2mom_silu);
  });
});
