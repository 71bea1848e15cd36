// Run the CLI in-process and capture what it prints.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/main.js";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export async function cli(...argv: string[]): Promise<CliResult> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => void (out += t), err: (t) => void (err += t), isTTY: false });
  return { code, out, err };
}

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix = "hwsim-test-"): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (n) => join(dir, n), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
