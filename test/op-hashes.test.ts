/**
 * The emulated engine must keep every bit: every op output, forward and
 * backward, of SchNet and the attention model (conservative and direct
 * forces) on every preset and on fixture hw-models with stochastic rounding,
 * chunked/pairwise/promote orders, MX, NVFP4 and int8 fixed-point
 * requantisation, equals the fingerprints recorded from the engine before
 * the resident-tensor redesign (test/fixtures/op-hashes/hashes.json, written
 * by commit "op-hash fixture" from the then-current engine, itself proven
 * against the oracles of the other tests). To re-record after an intended
 * change of semantics: HWSIM_WRITE_OP_HASHES=1 npx vitest run test/op-hashes.test.ts
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { HASH_HW, HASH_MODELS, runAfterOthers, runHashes, type RunHashes } from "./helpers/op-hashes.js";

const FIXTURE = "test/fixtures/op-hashes/hashes.json";
const write = process.env.HWSIM_WRITE_OP_HASHES === "1";
const recorded: Record<string, RunHashes> = !write && existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : {};
const fresh: Record<string, RunHashes> = {};

describe("op hashes: every op output, forward and backward, is unchanged", () => {
  for (const model of Object.keys(HASH_MODELS)) {
    for (const hw of HASH_HW) {
      const key = `${model} @ ${hw}`;
      it(key, () => {
        const got = runHashes(model, hw);
        fresh[key] = got;
        if (write) return;
        const want = recorded[key];
        expect(want, `${FIXTURE} has no entry '${key}'`).toBeDefined();
        expect(got.ops.length, `${key}: number of ops`).toBe(want.ops.length);
        // Name the first op that differs (forward first, then its gradient).
        for (let i = 0; i < want.ops.length; i++) {
          expect(got.ops[i], `${key}: op ${i} (${want.ops[i].op})`).toEqual(want.ops[i]);
        }
        expect(Object.is(got.energy, want.energy), `${key}: energy ${got.energy} vs ${want.energy}`).toBe(true);
        expect(got.forces, `${key}: forces`).toBe(want.forces);
      }, 120_000);
    }
  }
  if (!write) {
    for (const model of Object.keys(HASH_MODELS)) {
      for (const hw of HASH_HW) {
        const key = `${model} @ ${hw}`;
        it(`${key}: the same bits without a trace, after other structures (step arena)`, () => {
          const got = runAfterOthers(model, hw);
          expect(Object.is(got.energy, recorded[key].energy), `${key}: energy ${got.energy} vs ${recorded[key].energy}`).toBe(true);
          expect(got.forces, `${key}: forces`).toBe(recorded[key].forces);
        }, 120_000);
      }
    }
  }
  if (write) {
    it("writes the fixture", () => {
      writeFileSync(FIXTURE, JSON.stringify(fresh, null, 0).replace(/\],"ops"/g, '],\n"ops"').replace(/\},\{/g, "},\n{") + "\n");
    });
  }
});
