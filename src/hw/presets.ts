/**
 * The shipped hardware models: `hw-models/<name>.json` at the package root
 * (found by walking up from this module, so it works from src/ and dist/).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

let dirCache: string | undefined;

/** Absolute path of the hw-models/ directory (the one holding schema.json). */
export function presetDir(): string {
  if (dirCache) return dirCache;
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const cand = join(d, "hw-models");
    if (existsSync(join(cand, "schema.json"))) return (dirCache = cand);
    const up = dirname(d);
    if (up === d) throw new Error("hw-models/schema.json not found above " + fileURLToPath(import.meta.url));
    d = up;
  }
}

export function schemaPath(): string {
  return join(presetDir(), "schema.json");
}

/** Names of the shipped presets (file names without .json), sorted. */
export function presetNames(): string[] {
  return readdirSync(presetDir())
    .filter((f) => f.endsWith(".json") && f !== "schema.json")
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Path of a preset by name, or undefined when there is none. */
export function presetPath(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name === "schema") return undefined;
  const p = resolve(presetDir(), `${name}.json`);
  return existsSync(p) ? p : undefined;
}

export interface PresetInfo {
  name: string;
  description: string;
  /** Absolute path of the preset file. */
  file: string;
  extends?: string;
}

/** Every shipped preset with its one-line rationale (read from the files, not resolved). */
export function listPresets(): PresetInfo[] {
  return presetNames().map((n) => {
    const file = join(presetDir(), `${n}.json`);
    let raw: { name?: unknown; description?: unknown; extends?: unknown } = {};
    try {
      raw = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      /* a broken preset still lists; `hw validate` says what is wrong */
    }
    const info: PresetInfo = {
      name: typeof raw.name === "string" ? raw.name : n,
      description: typeof raw.description === "string" ? raw.description : "",
      file,
    };
    if (typeof raw.extends === "string") info.extends = raw.extends;
    return info;
  });
}
