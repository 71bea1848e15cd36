// fast-check's global settings for every test file. By default each run draws a
// fresh seed (printed with any counterexample). To replay a CI failure set
// FC_SEED (and FC_PATH) to the printed values; to hunt harder set FC_NUM_RUNS.
import fc from "fast-check";

const seed = process.env.FC_SEED;
const path = process.env.FC_PATH;
const runs = process.env.FC_NUM_RUNS;
fc.configureGlobal({
  ...(seed !== undefined && seed !== "" ? { seed: Number(seed) } : {}),
  ...(path !== undefined && path !== "" ? { path } : {}),
  ...(runs !== undefined && runs !== "" ? { numRuns: Number(runs) } : {}),
});
