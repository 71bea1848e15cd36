/**
 * The input and output policies (src/io/input-policy.ts, src/io/output-policy.ts)
 * against hostile paths: the same file under another name (./, relative,
 * symlink, hard link), non-regular targets (FIFO, directory, socket-like
 * special files) even with --force, non-regular and oversized inputs, temp
 * files on every exit path (including signals) and all-or-nothing
 * multi-file outputs. No test here touches /dev: special files are made in a
 * temp directory (mkfifo).
 */
import { afterAll, describe, expect, it } from "vitest";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { writeNpy, readNpy } from "../src/io/npy.js";
import { readInputFile, INPUT_LIMITS } from "../src/io/input-policy.js";
import { checkOutputDir, checkOutputFile, pendingTemps, writeDirAtomic } from "../src/io/output-policy.js";
import { writeFileAtomic } from "../src/io/atomic-write.js";
import { cli, expectOneLine, tempDir } from "./helpers/cli.js";
import { expectInputError } from "./helpers/errors.js";

const t = tempDir("hwsim-io-policy-");
afterAll(() => t.cleanup());

const IN = t.path("in.npy");
writeNpy(IN, { dtype: "float32", shape: [4], data: Float32Array.from([1, 2, 3, 4]) });
const inBytes = readFileSync(IN);
const FIFO = t.path("fifo");
execFileSync("mkfifo", [FIFO]);


describe("output policy: the same file under another name", () => {
  const names: [string, () => string][] = [
    ["./relative", () => "./" + relative(process.cwd(), IN)],
    ["a/../ path", () => `${t.dir}/sub/../in.npy`],
    ["symlink", () => {
      const l = t.path("link.npy");
      if (!existsSync(l)) symlinkSync(IN, l);
      return l;
    }],
    ["hard link", () => {
      const l = t.path("hard.npy");
      if (!existsSync(l)) linkSync(IN, l);
      return l;
    }],
  ];
  mkdirSync(t.path("sub"), { recursive: true });
  for (const [what, out] of names) {
    it(`cast IN OUT --force refuses OUT = IN via ${what}`, async () => {
      const r = await cli("cast", "--to", "float16", "--force", IN, out());
      expectOneLine(r, /output would overwrite the input/);
      expect(readFileSync(IN).equals(inBytes)).toBe(true);
    });
  }
});

describe("output policy: only regular files are written, even with --force", () => {
  it("a FIFO as OUT", async () => {
    const r = await cli("cast", "--to", "float16", "--force", IN, FIFO);
    expectOneLine(r, /fifo: cannot write: a FIFO \(named pipe\), not a regular file \(hwsim writes only regular files, even with --force\)/);
    expect(statSync(FIFO).isFIFO()).toBe(true);
  });
  it("a symlink to a FIFO as OUT", async () => {
    const l = t.path("fifo-link.npy");
    symlinkSync(FIFO, l);
    const r = await cli("cast", "--to", "float16", "--force", IN, l);
    expectOneLine(r, /fifo-link\.npy: cannot write: a FIFO/);
    expect(statSync(FIFO).isFIFO()).toBe(true);
  });
  it("a directory as OUT", async () => {
    const r = await cli("cast", "--to", "float16", "--force", IN, t.path("sub"));
    expectOneLine(r, /sub: cannot write: a directory, not a regular file/);
  });
  it("a dangling symlink and a missing directory", async () => {
    const l = t.path("dangling.npy");
    symlinkSync(t.path("nowhere/x.npy"), l);
    expectOneLine(await cli("cast", "--to", "float16", IN, l), /dangling\.npy: cannot write: a symbolic link to a missing file/);
    expectOneLine(await cli("cast", "--to", "float16", IN, t.path("nowhere/out.npy")), /out\.npy: cannot write: no such directory/);
  });
  it("magic links (/dev/stdout, /proc/self/fd/1, a symlink to them) are refused: their target may be a file the shell writes", () => {
    // checkOutputFile only checks (it writes nothing), so these cannot touch the devices
    const l = t.path("to-stdout");
    symlinkSync("/dev/stdout", l);
    for (const p of ["/dev/stdout", "/proc/self/fd/1", "/dev/fd/2", l]) expectInputError(() => checkOutputFile(p, true), `${p}: cannot write: hwsim does not write into /dev or /proc`);
  });
  it("writeFileAtomic itself refuses a FIFO (library callers too), and leaves no temp file", () => {
    expectInputError(() => writeFileAtomic(FIFO, "x", { overwrite: true }), "a FIFO");
    expect(statSync(FIFO).isFIFO()).toBe(true);
    expect(readdirSync(t.dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(pendingTemps()).toEqual([]);
  });
  it("--force through a symlink to a regular file replaces the target, keeps the link", async () => {
    const target = t.path("target.npy");
    const l = t.path("target-link.npy");
    writeFileSync(target, "old");
    symlinkSync(target, l);
    expect((await cli("cast", "--to", "float16", "--output", "values", "--force", IN, l)).code).toBe(0);
    const back = readNpy(target).data;
    expect(back).toBeInstanceOf(Float32Array);
    expect(Array.from(back as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(statSync(l).isFile() && readFileSync(l).equals(readFileSync(target))).toBe(true);
  });
});

describe("input policy: regular files only, size checked before reading", () => {
  it("a FIFO as input is refused at once (no blocking read)", async () => {
    const r = await cli("cast", "--to", "float16", FIFO, t.path("o1.npy"));
    expectOneLine(r, /fifo: cannot read: a FIFO \(named pipe\), not a regular file/);
  });
  it("a directory as input", async () => {
    expectOneLine(await cli("cast", "--to", "float16", t.path("sub"), t.path("o2.npy")), /sub: cannot read: a directory, not a regular file/);
  });
  it("a FIFO as structures, as model weights, as hw-model and as an extends target", async () => {
    expectOneLine(await cli("hw", "validate", FIFO), /fifo: cannot read: a FIFO/);
    const child = t.path("child.json");
    writeFileSync(child, JSON.stringify({ name: "c", extends: "./fifo" }));
    expectOneLine(await cli("hw", "validate", child), /fifo: cannot read: a FIFO/);
    const base = ["--arch", "schnet", "--hw", "fp64-reference"];
    expectOneLine(await cli("predict", "--model", FIFO, ...base, "examples/water-schnet/water_test.extxyz", t.path("p.extxyz")), /fifo: cannot read: a FIFO/);
    expectOneLine(await cli("predict", "--model", "examples/water-schnet/water_schnet.safetensors", ...base, FIFO, t.path("p.extxyz")), /fifo: cannot read: a FIFO/);
  });
  it("a file over the cap is refused by its size, before reading", () => {
    const big = t.path("big.json");
    writeFileSync(big, "");
    execFileSync("truncate", ["-s", String(INPUT_LIMITS.json + 1), big]);
    expectInputError(() => readInputFile(big, "json"), `big.json: cannot read: ${INPUT_LIMITS.json + 1} bytes is more than the 16 MiB hwsim reads from one json file`);
  });
});

describe("multi-file outputs: all or nothing", () => {
  it("writeDirAtomic into a new directory creates it whole", () => {
    const d = t.path("rep-new");
    writeDirAtomic(d, [["a.txt", "A"], ["b.txt", "B"]]);
    expect(readdirSync(d).sort()).toEqual(["a.txt", "b.txt"]);
    expect(readdirSync(t.dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });
  it("when the second file cannot be placed, the first is not replaced either", () => {
    const d = t.path("rep-old");
    mkdirSync(d);
    writeFileSync(`${d}/a.txt`, "old");
    mkdirSync(`${d}/b.txt`); // index.html-as-a-directory: cannot be replaced by a file
    expectInputError(() => writeDirAtomic(d, [["a.txt", "new"], ["b.txt", "B"]]), "b.txt: cannot write: a directory");
    expect(readFileSync(`${d}/a.txt`, "utf8")).toBe("old");
    expect(readdirSync(t.dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(pendingTemps()).toEqual([]);
    // and checkOutputDir says so before any work
    expectInputError(() => checkOutputDir(d, true, ["a.txt", "b.txt"]), "b.txt: cannot write: a directory");
  });
});

describe("temp files are removed when the process is killed", () => {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    it(`${sig} while a temp file is registered`, async () => {
      const tmpFile = t.path(`.killed-${sig}.tmp`);
      const script = `
        import { registerTemp } from ${JSON.stringify(new URL("../dist/src/io/output-policy.js", import.meta.url).href)};
        import { writeFileSync } from "node:fs";
        writeFileSync(${JSON.stringify(tmpFile)}, "partial");
        registerTemp(${JSON.stringify(tmpFile)});
        process.stdout.write("ready\\n");
        setTimeout(() => {}, 60000);`;
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
      await new Promise<void>((res) => child.stdout.once("data", () => res()));
      expect(existsSync(tmpFile)).toBe(true);
      const ended = new Promise<NodeJS.Signals | null>((res) => child.on("exit", (_c, s) => res(s)));
      child.kill(sig);
      expect(await ended).toBe(sig);
      expect(existsSync(tmpFile)).toBe(false);
    });
  }
});
