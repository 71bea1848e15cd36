#!/usr/bin/env node
// Entry point of the `hwsim` command (built TypeScript in dist/).
import v8 from "node:v8";

// No inlining in V8's optimising compiler (TurboFan), for this process and its worker threads:
// the arithmetic is in WASM, so inlining JS buys no measurable steady-state speed, while it doubles
// the background compile time (930 -> 424 ms in the first 64 water frames), which competes with the
// frame workers for the cores. Set before any of the command's code is loaded.
v8.setFlagsFromString("--no-turbo-inlining");
const { runCli } = await import("../dist/src/cli/main.js");

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
