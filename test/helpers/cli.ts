// Run the CLI in-process and capture what it prints.
import { expect } from "vitest";
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

/** Bad input: exit 2, exactly one `hwsim:` line on stderr matching `re`, no internal error. */
export function expectOneLine(r: CliResult, re: RegExp): void {
  expect(r.code, r.err).toBe(2);
  expect(r.err, r.err).toMatch(/^hwsim: [^\n]*\n$/);
  expect(r.err).toMatch(re);
  expect(r.err).not.toMatch(/internal error|\bundefined\b/);
}
