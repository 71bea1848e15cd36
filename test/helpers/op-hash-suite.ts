/**
 * The op-hash suite of one model (test/op-hashes-*.test.ts): every op output,
 * forward and backward, on every preset and fixture hw-model, equals the
 * fingerprints recorded before the resident-tensor redesign
 * (test/fixtures/op-hashes/hashes.json, written by commit "op-hash fixture"
 * from the then-current engine, itself proven against the oracles of the
 * other tests); and the same bits without a trace after other structures
 * (the step arena). To re-record after an intended change of semantics:
 * HWSIM_WRITE_OP_HASHES=1 npx vitest run --maxWorkers=1 test/op-hashes (all the files, one at a time).
 */
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { HASH_HW, HASH_MODELS, predictRunsElsewhere, runAfterOthers, runHashes, type RunHashes } from "./op-hashes.js";

const FIXTURE = "test/fixtures/op-hashes/hashes.json";

export function opHashSuite(model: string): void {
  const write = process.env.HWSIM_WRITE_OP_HASHES === "1";
  const recorded: Record<string, RunHashes> = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : {};
  describe(`op hashes of ${model}: every op output, forward and backward, is unchanged`, () => {
    for (const hw of HASH_MODELS[model].hw ?? HASH_HW) {
      const key = `${model} @ ${hw}`;
      it(key, () => {
        const got = runHashes(model, hw);
        if (write) {
          // read-modify-write: each model's file records its own keys
          const all: Record<string, RunHashes> = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : {};
          all[key] = got;
          writeFileSync(FIXTURE, JSON.stringify(all, null, 0).replace(/\],"ops"/g, '],\n"ops"').replace(/\},\{/g, "},\n{") + "\n");
          return;
        }
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
      if (!write) {
        it(`${key}: the same bits without a trace, after other structures (step arena)`, () => {
          const got = runAfterOthers(model, hw);
          expect(Object.is(got.energy, recorded[key].energy), `${key}: energy ${got.energy} vs ${recorded[key].energy}`).toBe(true);
          expect(got.forces, `${key}: forces`).toBe(recorded[key].forces);
        }, 120_000);
        if (predictRunsElsewhere(hw)) {
          it(`${key}: the same bits from predict's backend (float64 reference, no trace), after other structures`, () => {
            const got = runAfterOthers(model, hw, 7n, "predict");
            expect(Object.is(got.energy, recorded[key].energy), `${key}: energy ${got.energy} vs ${recorded[key].energy}`).toBe(true);
            expect(got.forces, `${key}: forces`).toBe(recorded[key].forces);
          }, 120_000);
        }
      }
    }
  });
}
