#!/usr/bin/env node
// Entry point of the `hwsim` command (built TypeScript in dist/).
import { runCli } from "../dist/src/cli/main.js";

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
