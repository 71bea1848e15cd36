/**
 * `hwsim serve --ipi`: the i-PI force client.
 * (a) message encoding and decoding against hand-made bytes and ASE's own
 *     IPIProtocol (the byte layout, units and transposes);
 * (b) fake servers in this process: a whole session gives predictFrame's
 *     numbers; malformed, truncated, stalled or refused connections end with
 *     one line and exit 2 within a bounded time; waiting between messages is
 *     never cut short;
 * (c) the real thing: ASE's SocketIOCalculator + VelocityVerlet (python3-ase
 *     3.22) driving `bin/hwsim.js serve` for 100 steps of the water cluster
 *     matches a velocity-Verlet loop written here on fp64-reference, and an
 *     emulated hw-model's forces arrive bit for bit.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { InputError } from "../src/errors.js";
import { readExtxyz, writeExtxyz } from "../src/io/extxyz.js";
import { loadHwModel } from "../src/hw/index.js";
import { loadModel, structureOf } from "../src/workflows/load-model.js";
import { predictBackend, predictFrame } from "../src/workflows/predict.js";
import {
  BOHR, HARTREE, SocketReader, clusterVirial, decodeCells, decodeForceReady, decodeHeader, decodeInt32, decodePositions,
  encodeForceReady, encodeHeader, encodePosData,
} from "../src/workflows/ipi.js";
import { parseIpiAddress } from "../src/cli/commands/serve.js";
import { cli, tempDir, type CliResult } from "./helpers/cli.js";

const SCHNET = "examples/water-schnet/water_schnet.safetensors";
const START = "examples/water-schnet/water_start.extxyz";
const MODEL_ARGS = ["--model", SCHNET, "--arch", "schnet"];
const PYTHON = "/usr/bin/python3";
const DRIVER = "test/fixtures/ipi/ase_driver.py";
const tmp = tempDir("hwsim-serve-ipi-");
afterAll(() => tmp.cleanup());

const start = readExtxyz(START)[0];
const N = start.numbers.length;
const model = loadModel(SCHNET, { arch: "schnet" });
const bitsEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
/** What a value becomes on its way through the socket, as ASE and hwsim round it. */
const seenPosition = (x: number) => (x / BOHR) * BOHR;
const forceBack = (f: number) => (HARTREE / BOHR) * ((BOHR / HARTREE) * f);
const energyBack = (e: number) => (e / HARTREE) * HARTREE;

describe("i-PI messages", () => {
  it("headers are 12 ASCII bytes padded with spaces; unknown words are one-line input errors", () => {
    expect(encodeHeader("STATUS").toString("latin1")).toBe("STATUS      ");
    expect(encodeHeader("FORCEREADY").length).toBe(12);
    expect(() => encodeHeader("toolongheader")).toThrow();
    expect(decodeHeader(Buffer.from("POSDATA     "))).toBe("POSDATA");
    expect(decodeHeader(Buffer.from("EXIT\0\0\0\0\0\0\0\0", "latin1"))).toBe("EXIT");
    expect(() => decodeHeader(Buffer.from("HELLO       "))).toThrow(/^serve: unknown message header "HELLO"/);
    expect(() => decodeHeader(Buffer.from("READY       "))).toThrow(InputError); // a client's word, not the server's
    expect(() => decodeHeader(Buffer.alloc(12, 0xff))).toThrow(/unknown message header "\u00ff+"/);
  });

  it("POSDATA: hᵀ and h⁻ᵀ in Bohr, int32 natoms, positions in Bohr (hand-made bytes)", () => {
    // The cell as sent: row-major hᵀ, Bohr; rows of h are the lattice vectors.
    const sentCell = [10, 1, 2, 0, 11, 3, 0, 0, 12];
    const sentInverse = [0.1, 0, 0, -0.01, 0.09, 0, -0.02, -0.03, 0.08];
    const sentPos = [0.5, -1.25, 2, 3, 4, -5];
    const b = Buffer.alloc(12 + 144 + 4 + 48);
    b.write("POSDATA     ", 0, "latin1");
    [...sentCell, ...sentInverse].forEach((x, k) => b.writeDoubleLE(x, 12 + 8 * k));
    b.writeInt32LE(2, 156);
    sentPos.forEach((x, k) => b.writeDoubleLE(x, 160 + 8 * k));

    const { cell, inverseCell } = decodeCells(b.subarray(12, 156));
    // lattice vector a = column 0 of what was sent
    expect(Array.from(cell)).toEqual([10, 0, 0, 1, 11, 0, 2, 3, 12].map((x) => x * BOHR));
    expect(Array.from(inverseCell)).toEqual([0.1, -0.01, -0.02, 0, 0.09, -0.03, 0, 0, 0.08].map((x) => x / BOHR));
    expect(decodeInt32(b.subarray(156, 160))).toBe(2);
    expect(Array.from(decodePositions(b.subarray(160), 2))).toEqual(sentPos.map((x) => x * BOHR));
    // encodePosData writes hᵀ/Bohr, h⁻ᵀ·Bohr, natoms, positions/Bohr from Å values (ASE's sendposdata)
    const cellA = [10, 0, 0, 1, 11, 0, 2, 3, 12];
    const re = encodePosData(cellA, [1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 5, 6]);
    expect(re.length).toBe(b.length);
    expect(re.subarray(0, 12).toString("latin1")).toBe("POSDATA     ");
    [10, 1, 2, 0, 11, 3, 0, 0, 12].forEach((x, k) => expect(re.readDoubleLE(12 + 8 * k)).toBe(x / BOHR));
    [1, 4, 7, 2, 5, 8, 3, 6, 9].forEach((x, k) => expect(re.readDoubleLE(84 + 8 * k)).toBe(x * BOHR));
    expect(re.readInt32LE(156)).toBe(2);
    [1, 2, 3, 4, 5, 6].forEach((x, k) => expect(re.readDoubleLE(160 + 8 * k)).toBe(x / BOHR));
  });

  it("POSDATA refuses non-finite numbers and wrong lengths, naming the entry", () => {
    const b = encodePosData(new Float64Array(9), new Float64Array(9), [0, 0, 0, 1, 1, 1]);
    const nan = Buffer.from(b);
    nan.writeDoubleLE(NaN, 160 + 8 * 4);
    expect(() => decodePositions(nan.subarray(160), 2)).toThrow(/^serve: POSDATA: atom 2: position is not finite \(NaN\)$/);
    const inf = Buffer.from(b);
    inf.writeDoubleLE(-Infinity, 12 + 8 * 10);
    expect(() => decodeCells(inf.subarray(12, 156))).toThrow(/^serve: POSDATA: inverse cell entry 2 is not finite/);
    expect(() => decodePositions(b.subarray(160, 170), 2)).toThrow(/10 bytes, not 48/);
  });

  it("FORCEREADY: energy/Ha, natoms, (Bohr/Ha)·F, Wᵀ/Ha, no extra bytes (hand-checked offsets)", () => {
    const forces = Float64Array.from([1, 2, 3, -4, -5, -6]);
    const virial = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = encodeForceReady({ energy: -2.5, forces, virial });
    expect(b.length).toBe(12 + 8 + 4 + 48 + 72 + 4);
    expect(b.subarray(0, 12).toString("latin1")).toBe("FORCEREADY  ");
    expect(b.readDoubleLE(12)).toBe(-2.5 / HARTREE);
    expect(b.readInt32LE(20)).toBe(2);
    forces.forEach((f, k) => expect(b.readDoubleLE(24 + 8 * k)).toBe((BOHR / HARTREE) * f));
    [1, 4, 7, 2, 5, 8, 3, 6, 9].forEach((w, k) => expect(b.readDoubleLE(72 + 8 * k)).toBe((1 / HARTREE) * w));
    expect(b.readInt32LE(144)).toBe(0);
    const back = decodeForceReady(b);
    expect(back.extra.length).toBe(0);
    expect(Array.from(back.forces)).toEqual(Array.from(forces, forceBack));
  });

  it("the virial of a cluster is W_ab = Σ f_ia r_ib", () => {
    expect(Array.from(clusterVirial([1, 2, 3, 0, 0, 1], [4, 5, 6, 0, 0, -1]))).toEqual([4, 8, 12, 5, 10, 15, 6, 12, 18 - 1]);
  });

  it("ASE's IPIProtocol writes the same POSDATA bytes and reads our FORCEREADY as we mean it", () => {
    const forces = Float64Array.from([0.25, -1.5, 3.125, 1e-3, 2, -7]);
    const virial = Float64Array.from([1, 0.5, 0.25, 0.5, 2, 0.125, 0.25, 0.125, 3]);
    const ours = encodeForceReady({ energy: -1234.5678, forces, virial });
    const r = spawnSync(PYTHON, [DRIVER, "bytes"], { input: ours.toString("hex"), encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const ase = JSON.parse(r.stdout);
    expect(encodePosData(ase.cell, ase.inverse_cell, ase.positions).toString("hex")).toBe(ase.posdata);
    expect(Object.is(ase.energy, energyBack(-1234.5678))).toBe(true);
    expect(bitsEqual(ase.forces, Array.from(forces, forceBack))).toBe(true);
    expect(ase.virial).toEqual(Array.from(virial).map((w) => expect.closeTo(w, 12)));
    expect(ase.extra).toBe(0);
  });

  it("--ipi addresses: unix:NAME is /tmp/ipi_NAME, HOST:PORT is TCP; others are refused", () => {
    expect(parseIpiAddress("unix:water")).toMatchObject({ path: "/tmp/ipi_water" });
    expect(parseIpiAddress("localhost:31415")).toMatchObject({ host: "localhost", port: 31415 });
    expect(parseIpiAddress("[::1]:3141")).toMatchObject({ host: "::1", port: 3141 });
    for (const bad of ["water", "unix:", "unix:a/b", "host:0", "host:99999", ":80", "host:http"]) {
      expect(() => parseIpiAddress(bad), bad).toThrow(/^serve: --ipi/);
    }
  });
});

// ---------------------------------------------------------------------------
// Fake servers

let sockets = 0;
const socketName = () => `hwsim-test-${process.pid}-${++sockets}`;
type Script = (s: Socket, r: SocketReader) => Promise<void>;

/**
 * Listen (on /tmp/ipi_NAME, or on TCP with `tcp`), run `script` on the first
 * connection, run `hwsim serve` against it; the server is closed afterwards.
 */
async function serveAgainst(script: Script, extra: string[] = [], opts: { template?: string; tcp?: boolean } = {}): Promise<CliResult & { ms: number }> {
  const name = socketName();
  const path = `/tmp/ipi_${name}`;
  const conns: Socket[] = [];
  const server: Server = createServer((s) => {
    conns.push(s);
    script(s, new SocketReader(s)).catch(() => {}); // the client hanging up ends the script's reads
  });
  await new Promise<void>((res) => (opts.tcp ? server.listen(0, "127.0.0.1", res) : server.listen(path, res)));
  const address = opts.tcp ? `127.0.0.1:${(server.address() as { port: number }).port}` : `unix:${name}`;
  const t0 = performance.now();
  try {
    const r = await cli("serve", "--ipi", address, ...MODEL_ARGS, "--hw", "fp64-reference", ...extra, opts.template ?? START);
    return { ...r, ms: performance.now() - t0 };
  } finally {
    conns.forEach((c) => c.destroy());
    await new Promise((res) => server.close(res));
    rmSync(path, { force: true });
  }
}

async function ask(s: Socket, r: SocketReader, word: string): Promise<string> {
  s.write(encodeHeader(word));
  return (await r.read(12, "reply", undefined)).toString("latin1").trimEnd();
}

async function getForce(s: Socket, r: SocketReader, n: number) {
  s.write(encodeHeader("GETFORCE"));
  const b = await r.read(12 + 8 + 4 + 24 * n + 72 + 4, "FORCEREADY", undefined);
  return decodeForceReady(b);
}

function init(): Buffer {
  const b = Buffer.alloc(12 + 9);
  encodeHeader("INIT").copy(b);
  b.writeInt32LE(0, 12);
  b.writeInt32LE(1, 16); // one zero byte, as ASE sends
  return b;
}

const ZERO9 = new Float64Array(9);

/** One line on stderr, exit 2, quickly. */
function expectOneLine(r: CliResult & { ms: number }, message: RegExp, maxMs = 5000): void {
  expect(r.code, r.err).toBe(2);
  expect(r.err).toMatch(/^hwsim: serve: [^\n]*\n$/);
  expect(r.err).toMatch(message);
  expect(r.ms).toBeLessThan(maxMs);
}

describe("hwsim serve against a fake i-PI server", () => {
  it("a whole session (STATUS, INIT, POSDATA, GETFORCE, EXIT) gives predictFrame's energy, forces and the cluster virial", async () => {
    const got: ReturnType<typeof decodeForceReady>[] = [];
    const statuses: string[] = [];
    const shifted = start.positions.map((x, k) => x + (k % 3 === 0 ? 0.01 : 0));
    const r = await serveAgainst(async (s, rd) => {
      statuses.push(await ask(s, rd, "STATUS"));
      s.write(init());
      statuses.push(await ask(s, rd, "STATUS"));
      for (const pos of [start.positions, shifted]) {
        s.write(encodePosData(ZERO9, ZERO9, pos));
        statuses.push(await ask(s, rd, "STATUS"));
        got.push(await getForce(s, rd, N));
        statuses.push(await ask(s, rd, "STATUS"));
      }
      s.write(encodeHeader("EXIT"));
    });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/^serve: 2 force evaluations on fp64-reference; the server sent EXIT\n$/);
    expect(statuses).toEqual(["READY", "READY", "HAVEDATA", "READY", "HAVEDATA", "READY"]);
    const backend = predictBackend(loadHwModel("fp64-reference"), undefined);
    [start.positions, shifted].forEach((pos, i) => {
      const seen = pos.map(seenPosition);
      const p = predictFrame(model, backend, { numbers: start.numbers, positions: seen });
      expect(Object.is(got[i].energy, energyBack(p.energy))).toBe(true);
      expect(bitsEqual(got[i].forces, Array.from(p.forces, forceBack))).toBe(true);
      const w = clusterVirial(seen, p.forces);
      got[i].virial.forEach((x, k) => expect(x).toBeCloseTo(w[k], 12));
      expect(got[i].extra.length).toBe(0);
    });
  });

  it("TCP, a periodic template: the cell (transposed on the wire) reaches the model; the virial is zero and a note says so", async () => {
    const periodic = tmp.path("periodic.extxyz");
    const cell = Float64Array.from([25, 0, 0, 3, 26, 0, 2, 4, 27]);
    writeExtxyz(periodic, [{ ...start, cell, pbc: [true, true, true], arrays: {} }]);
    let got: ReturnType<typeof decodeForceReady> | undefined;
    const r = await serveAgainst(async (s, rd) => {
      s.write(encodePosData(cell, ZERO9, start.positions));
      got = await getForce(s, rd, N);
      s.end(); // ASE ends a session by closing the connection
    }, [], { template: periodic, tcp: true });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^hwsim: serve: note: .*periodic; the virial sent is zero[^\n]*\n$/);
    expect(r.out).toMatch(/1 force evaluation on fp64-reference; the server closed the connection/);
    const p = predictFrame(model, predictBackend(loadHwModel("fp64-reference"), undefined), {
      numbers: start.numbers, positions: start.positions.map(seenPosition), cell: cell.map(seenPosition), pbc: [true, true, true],
    });
    const cluster = predictFrame(model, predictBackend(loadHwModel("fp64-reference"), undefined), { numbers: start.numbers, positions: start.positions });
    expect(bitsEqual(got!.forces, Array.from(p.forces, forceBack))).toBe(true);
    expect(p.energy).not.toBe(cluster.energy); // images within the cutoff: the cell mattered
    expect(Array.from(got!.virial)).toEqual(new Array(9).fill(0));
  });

  it("waiting between messages is not limited by --timeout", async () => {
    const r = await serveAgainst(async (s, rd) => {
      await new Promise((res) => setTimeout(res, 800));
      expect(await ask(s, rd, "STATUS")).toBe("READY");
      await new Promise((res) => setTimeout(res, 800));
      s.write(encodeHeader("EXIT"));
    }, ["--timeout", "0.3"]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/0 force evaluations.*EXIT/);
  });

  const posdata = encodePosData(ZERO9, ZERO9, start.positions);
  const withDouble = (b: Buffer, at: number, x: number) => {
    const c = Buffer.from(b);
    c.writeDoubleLE(x, at);
    return c;
  };
  const cases: [string, Script, RegExp, string[]?, boolean?][] = [
    ["an unknown header", async (s) => void s.write("HELLO       "), /unknown message header "HELLO"/],
    ["binary garbage", async (s) => void s.write(Buffer.alloc(12, 0xff)), /unknown message header/],
    ["a header cut short, then the end", async (s) => void s.end("STAT"), /closed the connection in the middle of a message header \(4 of 12 bytes\)/],
    ["POSDATA cut short in the positions, then the end", async (s) => void s.end(posdata.subarray(0, 12 + 148 + 100)), /closed the connection in the middle of POSDATA \(positions\) \(100 of 1728 bytes\)/],
    ["POSDATA cut short in the cells, then the end", async (s) => void s.end(posdata.subarray(0, 20)), /middle of POSDATA \(cells\) \(8 of 144 bytes\)/],
    ["POSDATA with 3 atoms (the connection left open)", async (s) => void s.write(encodePosData(ZERO9, ZERO9, [0, 0, 0, 1, 0, 0, 0, 1, 0])), /POSDATA has 3 atoms but the template has 72/],
    ["POSDATA with a negative natoms", async (s) => void s.write(encodePosData(ZERO9, ZERO9, []).fill(0xff, 156, 160)), /POSDATA has -1 atoms/],
    ["a NaN position", async (s) => void s.write(withDouble(posdata, 160 + 8 * 7, NaN)), /POSDATA: atom 3: position is not finite \(NaN\)/],
    ["an infinite cell entry", async (s) => void s.write(withDouble(posdata, 12 + 8 * 4, Infinity)), /POSDATA: cell entry 5 is not finite/],
    ["GETFORCE before POSDATA", async (s) => void s.write(encodeHeader("GETFORCE")), /GETFORCE before any POSDATA/],
    ["INIT with a negative length", async (s) => void s.write(Buffer.concat([encodeHeader("INIT"), Buffer.from([0, 0, 0, 0, 0xfb, 0xff, 0xff, 0xff])])), /INIT: length -5 is not in 0\.\./],
    ["a message that stalls half-way (--timeout 0.5)", async (s) => void s.write(posdata.subarray(0, 30)), /stopped sending in the middle of POSDATA \(cells\) \(18 of 144 bytes after the time limit\)/, ["--timeout", "0.5"]],
    ["a TCP reset in the middle of a message", async (s, rd) => {
      await ask(s, rd, "STATUS");
      s.write(posdata.subarray(0, 40));
      setTimeout(() => s.resetAndDestroy(), 50);
    }, /connection error: ECONNRESET/, [], true],
  ];
  for (const [what, script, message, extra, tcp] of cases) {
    it(`${what}: one line, exit 2`, async () => {
      expectOneLine(await serveAgainst(script, extra ?? [], { tcp }), message);
    });
  }

  it("no server: connection refused (unix and TCP) is one line, exit 2", async () => {
    const a = await cli("serve", "--ipi", `unix:${socketName()}-absent`, ...MODEL_ARGS, "--hw", "fp64-reference", START);
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/^hwsim: serve: cannot connect to unix:.*\(\/tmp\/ipi_.*\): ENOENT \(is the i-PI server listening\?\)\n$/);
    const server = createServer();
    await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
    const port = (server.address() as { port: number }).port;
    await new Promise((res) => server.close(res));
    const b = await cli("serve", "--ipi", `127.0.0.1:${port}`, ...MODEL_ARGS, "--hw", "fp64-reference", START);
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^hwsim: serve: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED[^\n]*\n$/);
    const c = await cli("serve", "--ipi", "nowhere", ...MODEL_ARGS, "--hw", "fp64-reference", START);
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/^hwsim: serve: --ipi 'nowhere'/);
  });

  it("the binary exits (code 2, one line) as soon as a truncated message is followed by the end", async () => {
    const name = socketName();
    const path = `/tmp/ipi_${name}`;
    const server = createServer((s) => void s.end(encodePosData(ZERO9, ZERO9, start.positions).subarray(0, 500)));
    await new Promise<void>((res) => server.listen(path, res));
    try {
      const t0 = performance.now();
      const child = spawn(process.execPath, ["bin/hwsim.js", "serve", "--ipi", `unix:${name}`, ...MODEL_ARGS, "--hw", "fp64-reference", START]);
      const r = await finished(child, 20_000);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(/^hwsim: serve: the server closed the connection in the middle of POSDATA \(positions\)[^\n]*\n$/);
      expect(performance.now() - t0).toBeLessThan(15_000);
    } finally {
      await new Promise((res) => server.close(res));
      rmSync(path, { force: true });
    }
  }, 30_000);
});

// ---------------------------------------------------------------------------
// ASE

function finished(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => void (out += d));
  child.stderr!.on("data", (d) => void (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`timed out: ${err}`));
    }, timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

interface AseRun {
  final_positions: number[];
  masses: number[];
  dt: number;
  calls: { positions: number[]; energy: number; forces: number[] }[];
}

/**
 * ASE's VelocityVerlet over `hwsim serve` for `steps` steps of dt 0.5 fs from
 * the water cluster. `meanwhile` runs here while the two processes work (async,
 * yielding between steps: a long synchronous loop would starve vitest's RPC).
 */
async function aseMd<T>(hw: string, steps: number, meanwhile: () => Promise<T>): Promise<{ ase: AseRun; serve: CliResult; local: T; ms: number }> {
  const name = socketName();
  const input = tmp.path(`${name}.json`);
  const output = tmp.path(`${name}-out.json`);
  const velocities = start.arrays.velocities as Float64Array;
  writeFileSync(input, JSON.stringify({ numbers: Array.from(start.numbers), positions: Array.from(start.positions), velocities: Array.from(velocities), steps, dt_fs: 0.5 }));
  const t0 = performance.now();
  const py = spawn(PYTHON, [DRIVER, "md", name, input, output]);
  const pyDone = finished(py, 120_000);
  await new Promise<void>((resolve, reject) => {
    py.stdout!.on("data", (d) => void (String(d).includes("listening") && resolve()));
    py.on("close", () => reject(new Error("the ASE driver ended before listening")));
  });
  const serve = finished(spawn(process.execPath, ["bin/hwsim.js", "serve", "--ipi", `unix:${name}`, ...MODEL_ARGS, "--hw", hw, START]), 120_000);
  const local = await meanwhile();
  const [p, s] = await Promise.all([pyDone, serve]);
  expect(p.code, p.err).toBe(0);
  return { ase: JSON.parse(readFileSync(output, "utf8")), serve: s, local, ms: performance.now() - t0 };
}

describe("ASE SocketIOCalculator + VelocityVerlet driving hwsim serve", () => {
  it("fp64-reference, 100 steps of the water cluster: the positions match a velocity-Verlet loop here (≤ 1e-8 Å)", async () => {
    const dt = 0.5 * (1 / 10.180505671156725); // 0.5 fs in ASE time units
    const mass = (z: number) => (z === 8 ? 15.999 : z === 1 ? 1.008 : NaN);
    const verlet = async () => {
      // ASE 3.22's VelocityVerlet.step, operation for operation; forces as they come back through the socket.
      const backend = predictBackend(loadHwModel("fp64-reference"), undefined);
      const m = Array.from(start.numbers, mass);
      const force = (r: Float64Array) => {
        const f = predictFrame(model, backend, { numbers: start.numbers, positions: r.map(seenPosition) }).forces;
        return f.map(forceBack);
      };
      const r = Float64Array.from(start.positions);
      const v = start.arrays.velocities as Float64Array;
      const p = v.map((x, k) => m[Math.floor(k / 3)] * x);
      let f = force(r);
      for (let step = 0; step < 100; step++) {
        await new Promise((r) => setImmediate(r));
        for (let k = 0; k < p.length; k++) p[k] += 0.5 * dt * f[k];
        for (let k = 0; k < r.length; k++) r[k] = r[k] + (dt * p[k]) / m[Math.floor(k / 3)];
        f = force(r);
        for (let k = 0; k < p.length; k++) p[k] += 0.5 * dt * f[k];
      }
      return r;
    };
    const { ase, serve, local, ms } = await aseMd("fp64-reference", 100, verlet);
    expect(serve.code, serve.err).toBe(0);
    expect(serve.err).toBe("");
    expect(serve.out).toMatch(/^serve: 101 force evaluations on fp64-reference; the server closed the connection\n$/);
    expect(ase.dt).toBe(dt);
    expect(ase.masses).toEqual(Array.from(start.numbers, mass));
    expect(ase.calls.length).toBe(101);
    let maxDelta = 0;
    local.forEach((x, k) => (maxDelta = Math.max(maxDelta, Math.abs(x - ase.final_positions[k]))));
    const moved = Math.max(...local.map((x, k) => Math.abs(x - start.positions[k])));
    console.log(`ASE VelocityVerlet over hwsim serve, 100 steps: max |Δposition| ${maxDelta} Å (atoms moved up to ${moved.toFixed(4)} Å); ${(ms / 1000).toFixed(1)} s`);
    expect(moved).toBeGreaterThan(0.01);
    expect(maxDelta).toBeLessThanOrEqual(1e-8);

    // ...and `hwsim md` (its own velocity Verlet, in velocities rather than momenta) from the same start
    const dir = tmp.path("md-fp64");
    const md = await finished(spawn(process.execPath, ["bin/hwsim.js", "md", ...MODEL_ARGS, "--hw", "fp64-reference", "--steps", "100", "--every", "100", "--traj", dir, START]), 120_000);
    expect(md.code, md.err).toBe(0);
    const last = readExtxyz(`${dir}/fp64-reference.extxyz`)[1];
    expect(last.info.step).toBe(100);
    const mdDelta = Math.max(...Array.from(last.positions, (x, k) => Math.abs(x - ase.final_positions[k])));
    console.log(`hwsim md vs ASE over hwsim serve, 100 steps: max |Δposition| ${mdDelta} Å`);
    expect(mdDelta).toBeLessThanOrEqual(1e-8);
  }, 180_000);

  it("bf16-linear-fp32acc, 3 steps: the forces ASE received are predictFrame's, bit for bit, at the positions hwsim received", async () => {
    const { ase, serve } = await aseMd("bf16-linear-fp32acc", 3, async () => undefined);
    expect(serve.code, serve.err).toBe(0);
    expect(ase.calls.length).toBe(4);
    const backend = predictBackend(loadHwModel("bf16-linear-fp32acc"), undefined);
    const reference = predictBackend(loadHwModel("fp64-reference"), undefined);
    for (const call of ase.calls) {
      const positions = Float64Array.from(call.positions, seenPosition);
      const p = predictFrame(model, backend, { ...structureOf(start), positions });
      expect(Object.is(call.energy, energyBack(p.energy))).toBe(true);
      expect(bitsEqual(call.forces, Array.from(p.forces, forceBack))).toBe(true);
      const ref = predictFrame(model, reference, { numbers: start.numbers, positions });
      expect(bitsEqual(p.forces, ref.forces)).toBe(false); // the emulated chip is not float64
    }
  }, 60_000);
});
