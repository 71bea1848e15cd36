// Runs every bench/*.bench.js (or the ones named on the command line), prints
// their tables and writes bench/results/<name>.json. Benchmarks import the
// built library (dist/), so run through `npm run bench`.
import { readdirSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith(".bench.js"))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
mkdirSync(join(here, "results"), { recursive: true });
const machine = { node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, date: new Date().toISOString() };
console.log(`hwsim benchmarks on ${machine.cpu} (${machine.cores} cores), node ${machine.node}`);
for (const f of files) {
  const mod = await import(join(here, f));
  const name = f.replace(/\.bench\.js$/, "");
  const result = await mod.run();
  writeFileSync(join(here, "results", `${name}.json`), JSON.stringify({ machine, ...result }, null, 2) + "\n");
  console.log(`  -> bench/results/${name}.json`);
}
