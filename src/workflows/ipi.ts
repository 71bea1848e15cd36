/**
 * The i-PI socket protocol, client side (`hwsim serve`): the wire format that
 * i-PI, ASE's `SocketIOCalculator` and LAMMPS `fix ipi` speak, so an MD engine
 * sends positions and gets emulated-chip forces back.
 *
 * Wire format (as ASE 3.22's ase/calculators/socketio.py writes and reads it;
 * numbers in the machine's byte order, little-endian here):
 *   header    12 ASCII bytes, the word padded with spaces
 *   STATUS    → the client answers READY, NEEDINIT or HAVEDATA (a header)
 *   INIT      int32 bead index, int32 length, that many bytes (ignored)
 *   POSDATA   9 float64 cell, 9 float64 inverse cell, int32 natoms, 3·natoms float64 positions
 *   GETFORCE  → FORCEREADY, float64 energy, int32 natoms, 3·natoms float64 forces,
 *               9 float64 virial, int32 length of extra bytes, the bytes (hwsim sends none)
 *   EXIT      the session ends
 * Units are atomic: Bohr, Hartree, Hartree/Bohr. Matrices travel transposed:
 * the 9 cell numbers are hᵀ row by row, where h has the lattice vectors as
 * rows (ASE sends `cell.T / Bohr` and reads back `recv().T`); so do the
 * inverse cell (ASE's `icell`, (h⁻¹)ᵀ: the reciprocal vectors as rows, no 2π)
 * and the virial.
 * Conversions use ASE's constants and its order of operations (Å = bohr·Bohr,
 * forces sent as (Bohr/Ha)·F, energy as E/Ha, virial as (1/Ha)·Wᵀ), so a
 * value's trip through the socket rounds the way ASE's own client rounds it.
 *
 * Waiting: between messages the client waits for as long as the server likes
 * (an MD engine may think between steps); once a message has begun, the rest
 * must arrive within `midMessageTimeoutMs`, and an end of the connection in
 * the middle of a message is an error at once. Every protocol fault is an
 * InputError with one line saying what arrived.
 */
import type { Socket } from "node:net";
import { InputError } from "../errors.js";

/** Å per Bohr: ase.units.Bohr of ASE 3.22 (CODATA 2014, computed as ASE computes it). */
export const BOHR = 0.5291772105638411;
/** eV per Hartree: ase.units.Ha of ASE 3.22. */
export const HARTREE = 27.211386024367243;

export const HEADER_BYTES = 12;
/** Messages the server sends. */
export const SERVER_MESSAGES = ["STATUS", "INIT", "POSDATA", "GETFORCE", "EXIT"] as const;
export type ServerMessage = (typeof SERVER_MESSAGES)[number];
/** Largest INIT string accepted (i-PI sends a short JSON or nothing). */
export const MAX_INIT_BYTES = 1 << 20;

const serveError = (msg: string) => new InputError(`serve: ${msg}`);

/** A header: the word, ASCII, padded with spaces to 12 bytes. */
export function encodeHeader(word: string): Buffer {
  if (!/^[A-Z]{1,12}$/.test(word)) throw new Error(`i-PI header '${word}' is not 1..12 capital letters`);
  return Buffer.from(word.padEnd(HEADER_BYTES, " "), "ascii");
}

/** The word of a 12-byte header (trailing spaces or NULs stripped); any other word than the server's five is an error. */
export function decodeHeader(b: Uint8Array): ServerMessage {
  if (b.length !== HEADER_BYTES) throw serveError(`message header has ${b.length} bytes, not ${HEADER_BYTES}`);
  const text = decodeHeaderWord(b);
  if ((SERVER_MESSAGES as readonly string[]).includes(text)) return text as ServerMessage;
  throw serveError(`unknown message header ${JSON.stringify(text)} (expected ${SERVER_MESSAGES.join(", ")})`);
}

function f64s(b: Uint8Array, count: number): Float64Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Float64Array.from({ length: count }, (_, k) => v.getFloat64(8 * k, true));
}

function putF64s(v: DataView, at: number, xs: ArrayLike<number>): number {
  for (let k = 0; k < xs.length; k++) v.setFloat64(at + 8 * k, xs[k], true);
  return at + 8 * xs.length;
}

/** 3×3 row-major transpose. */
export function transpose3(m: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: 9 }, (_, k) => m[3 * (k % 3) + Math.floor(k / 3)]);
}

/** One int32 (little-endian) from 4 bytes. */
export function decodeInt32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true);
}

/**
 * The two matrices at the start of POSDATA (144 bytes: hᵀ and h⁻ᵀ in Bohr
 * units) as the cell with the lattice vectors as rows, in Å (ASE's
 * `recv().T * Bohr`), and ASE's `icell` ((h⁻¹)ᵀ) in 1/Å. Non-finite numbers are errors.
 */
export function decodeCells(b: Uint8Array): { cell: Float64Array; inverseCell: Float64Array } {
  if (b.length !== 144) throw serveError(`POSDATA cells have ${b.length} bytes, not 144`);
  const all = f64s(b, 18);
  all.forEach((x, k) => {
    if (!Number.isFinite(x)) throw serveError(`POSDATA: ${k < 9 ? "cell" : "inverse cell"} entry ${(k % 9) + 1} is not finite (${x})`);
  });
  const cell = transpose3(all.subarray(0, 9)).map((x) => x * BOHR);
  const inverseCell = transpose3(all.subarray(9, 18)).map((x) => x / BOHR);
  return { cell, inverseCell };
}

/** POSDATA positions (3·natoms float64, Bohr) in Å; a non-finite coordinate is an error naming the atom. */
export function decodePositions(b: Uint8Array, natoms: number): Float64Array {
  if (b.length !== 24 * natoms) throw serveError(`POSDATA positions have ${b.length} bytes, not ${24 * natoms}`);
  const p = f64s(b, 3 * natoms);
  for (let k = 0; k < p.length; k++) {
    if (!Number.isFinite(p[k])) throw serveError(`POSDATA: atom ${Math.floor(k / 3) + 1}: position is not finite (${p[k]})`);
    p[k] *= BOHR;
  }
  return p;
}

/**
 * The whole POSDATA message, header included, as ASE's `sendposdata` writes
 * it from the cell (lattice vectors as rows, Å), ASE's `icell` ((h⁻¹)ᵀ,
 * 1/Å; sent as given) and the positions (Å). For tests and fake servers.
 */
export function encodePosData(cell: ArrayLike<number>, inverseCell: ArrayLike<number>, positions: ArrayLike<number>): Buffer {
  const natoms = positions.length / 3;
  const out = Buffer.alloc(HEADER_BYTES + 144 + 4 + 8 * positions.length);
  encodeHeader("POSDATA").copy(out);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let at = putF64s(v, HEADER_BYTES, transpose3(cell).map((x) => x / BOHR));
  at = putF64s(v, at, transpose3(inverseCell).map((x) => x * BOHR));
  v.setInt32(at, natoms, true);
  putF64s(v, at + 4, Float64Array.from(positions, (x) => x / BOHR));
  return out;
}

/** What the client computes for one POSDATA, in eV and Å. */
export interface IpiResult {
  energy: number;
  /** n·3, eV/Å. */
  forces: Float64Array;
  /** 3×3 row-major, eV (W = −∂E/∂ε, ASE's `-volume * stress`). */
  virial: Float64Array;
}

/** FORCEREADY and its payload in atomic units, as ASE's `sendforce` converts them; no extra bytes. */
export function encodeForceReady(r: IpiResult): Buffer {
  const n = r.forces.length / 3;
  const out = Buffer.alloc(HEADER_BYTES + 8 + 4 + 8 * r.forces.length + 72 + 4);
  encodeHeader("FORCEREADY").copy(out);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setFloat64(HEADER_BYTES, r.energy / HARTREE, true);
  v.setInt32(HEADER_BYTES + 8, n, true);
  const perForce = BOHR / HARTREE;
  let at = putF64s(v, HEADER_BYTES + 12, Float64Array.from(r.forces, (f) => perForce * f));
  at = putF64s(v, at, transpose3(r.virial).map((w) => (1.0 / HARTREE) * w));
  v.setInt32(at, 0, true);
  return out;
}

/** A FORCEREADY message read back in eV and Å as ASE's `sendrecv_force` does (for tests and fake servers). */
export function decodeForceReady(b: Uint8Array): IpiResult & { extra: Uint8Array } {
  if (decodeHeaderWord(b.subarray(0, HEADER_BYTES)) !== "FORCEREADY") throw new Error("not a FORCEREADY message");
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const energy = v.getFloat64(HEADER_BYTES, true) * HARTREE;
  const n = v.getInt32(HEADER_BYTES + 8, true);
  const perForce = HARTREE / BOHR;
  const forces = f64s(b.subarray(HEADER_BYTES + 12), 3 * n).map((f) => perForce * f);
  const at = HEADER_BYTES + 12 + 24 * n;
  const virial = transpose3(f64s(b.subarray(at), 9)).map((w) => HARTREE * w);
  const extraLength = v.getInt32(at + 72, true);
  return { energy, forces, virial, extra: b.subarray(at + 76, at + 76 + extraLength) };
}

/** Any header's word (no check against the server's five). */
export function decodeHeaderWord(b: Uint8Array): string {
  return Buffer.from(b).toString("latin1").replace(/[ \0]+$/, "");
}

/**
 * W = Σᵢ fᵢ ⊗ rᵢ (W_ab = Σᵢ f_ia r_ib, eV): the virial −∂E/∂ε of a finite
 * cluster whose energy depends on positions only (ASE's `-volume * stress`).
 * Not the virial of a periodic system (that needs the cell derivative).
 */
export function clusterVirial(positions: ArrayLike<number>, forces: ArrayLike<number>): Float64Array {
  const w = new Float64Array(9);
  for (let i = 0; i < positions.length; i += 3) {
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) w[3 * a + b] += forces[i + a] * positions[i + b];
  }
  return w;
}

// ---------------------------------------------------------------------------
// Reading a stream

/** Reads exact byte counts from a socket; ends and errors reject the pending read (also the fake servers' reader in the tests). */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.buffered += d.length;
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("close", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      this.failure ??= serveError(`connection error: ${e.code ?? e.message}`);
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  get available(): number {
    return this.buffered;
  }

  /** Wait until at least `n` bytes are buffered, the stream ends, fails, or `deadline` (ms since epoch) passes. */
  private async waitFor(n: number, deadline: number | undefined): Promise<void> {
    while (this.buffered < n && !this.ended && !this.failure) {
      if (deadline !== undefined && Date.now() >= deadline) return;
      await new Promise<void>((resolve) => {
        const timer = deadline === undefined ? undefined : setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.wake = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Whether the stream ended cleanly before another byte arrived (no deadline: the server may wait). */
  async endsBeforeNextByte(): Promise<boolean> {
    await this.waitFor(1, undefined);
    if (this.buffered > 0) return false;
    if (this.failure) throw this.failure;
    return true;
  }

  /** Exactly `n` bytes of `what`; an end, error or the deadline first is an InputError saying how far it got. */
  async read(n: number, what: string, deadline: number | undefined): Promise<Buffer> {
    await this.waitFor(n, deadline);
    if (this.buffered < n) {
      if (this.failure) throw this.failure;
      const got = `${this.buffered} of ${n} bytes`;
      if (this.ended) throw serveError(`the server closed the connection in the middle of ${what} (${got})`);
      throw serveError(`the server stopped sending in the middle of ${what} (${got} after the time limit)`);
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return Buffer.from(out);
  }
}

// ---------------------------------------------------------------------------
// The client loop

export interface IpiClientOptions {
  /** Atoms of the template: every POSDATA must have this many. */
  natoms: number;
  /** Energy, forces and virial at the positions and cell (Å, rows) the server sent. */
  evaluate(positions: Float64Array, cell: Float64Array): IpiResult;
  /** Time allowed for the rest of a message once it has begun (default 30 s). */
  midMessageTimeoutMs?: number;
}

export interface IpiSession {
  /** POSDATA messages evaluated. */
  evaluations: number;
  /** How the session ended: the server's EXIT, or the server closing the connection between messages (ASE does that). */
  ended: "EXIT" | "closed";
}

type State = "READY" | "HAVEDATA";

/**
 * Serve forces over a connected socket until EXIT or a clean end of the
 * connection between messages. Rejects with an InputError on any protocol
 * fault; the caller destroys the socket.
 */
export async function runIpiClient(socket: Socket, opts: IpiClientOptions): Promise<IpiSession> {
  const reader = new SocketReader(socket);
  const timeout = opts.midMessageTimeoutMs ?? 30_000;
  let state: State = "READY";
  let result: IpiResult | undefined;
  let evaluations = 0;
  const send = (b: Buffer) => void socket.write(b);
  for (;;) {
    if (await reader.endsBeforeNextByte()) return { evaluations, ended: "closed" };
    const deadline = Date.now() + timeout;
    const header = decodeHeader(await reader.read(HEADER_BYTES, "a message header", deadline));
    switch (header) {
      case "EXIT":
        return { evaluations, ended: "EXIT" };
      case "STATUS":
        send(encodeHeader(state));
        break;
      case "INIT": {
        await reader.read(4, "INIT (bead index)", deadline);
        const len = decodeInt32(await reader.read(4, "INIT (length)", deadline));
        if (len < 0 || len > MAX_INIT_BYTES) throw serveError(`INIT: length ${len} is not in 0..${MAX_INIT_BYTES}`);
        await reader.read(len, "INIT (string)", deadline);
        break;
      }
      case "POSDATA": {
        const { cell } = decodeCells(await reader.read(144, "POSDATA (cells)", deadline));
        const natoms = decodeInt32(await reader.read(4, "POSDATA (natoms)", deadline));
        if (natoms !== opts.natoms) throw serveError(`POSDATA has ${natoms} atoms but the template has ${opts.natoms}`);
        const positions = decodePositions(await reader.read(24 * natoms, "POSDATA (positions)", deadline), natoms);
        result = opts.evaluate(positions, cell);
        evaluations++;
        state = "HAVEDATA";
        break;
      }
      case "GETFORCE":
        if (state !== "HAVEDATA" || !result) throw serveError("GETFORCE before any POSDATA");
        send(encodeForceReady(result));
        state = "READY";
        break;
    }
  }
}
