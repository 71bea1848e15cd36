/**
 * Extended XYZ (ASE conventions) reader and writer.
 *
 * A file is a sequence of frames: an atom-count line, a comment line of
 * `key=value` pairs, then one line per atom whose columns are described by
 * `Properties=name:type:count:...` (types S string, R real, I integer,
 * L logical). `species`/`Z` give the elements, `pos`/`positions` the
 * coordinates (Å), `forces` and `velocities` are kept as per-atom arrays.
 * `Lattice="ax ay az bx by bz cx cy cz"` is the cell as row vectors; `pbc`
 * defaults to "T T T" when a Lattice is given (as ASE does), else "F F F".
 *
 * Every malformed input is refused with an InputError of the form
 * `file:LINE: what is wrong`. Frame and atom numbers in messages are 1-based,
 * like line numbers, because they are meant for people reading the file.
 */
import { readInputText } from "./input-policy.js";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "./atomic-write.js";

/** One structure. Arrays are flat row-major (`positions[3*i + k]`). */
export interface Frame {
  symbols: string[];
  /** Atomic numbers. */
  numbers: Int32Array;
  /** n*3, Å. */
  positions: Float64Array;
  /** 9 numbers, the cell vectors as rows (a, b, c). */
  cell?: Float64Array;
  pbc: [boolean, boolean, boolean];
  /** Other comment-line values (everything except Lattice, Properties, pbc, energy). */
  info: Record<string, string | number | boolean | number[]>;
  /**
   * Per-atom columns other than species/Z/positions, flattened n*count:
   * R → Float64Array, I → Int32Array, L → Int32Array of 0/1, S → string[].
   * Includes `forces` (the same array as `Frame.forces`) and `velocities`.
   */
  arrays: Record<string, Float64Array | Int32Array | string[]>;
  energy?: number;
  /** n*3, eV/Å; alias of `arrays.forces` when the file has a `forces:R:3` column. */
  forces?: Float64Array;
}

// ---------------------------------------------------------------------------
// Elements (ASE's chemical_symbols; index 0 is the dummy atom "X").

/** Element symbols indexed by atomic number. */
export const CHEMICAL_SYMBOLS: readonly string[] = [
  "X",
  "H", "He",
  "Li", "Be", "B", "C", "N", "O", "F", "Ne",
  "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
  "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
  "Ga", "Ge", "As", "Se", "Br", "Kr",
  "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
  "In", "Sn", "Sb", "Te", "I", "Xe",
  "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy",
  "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt",
  "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn",
  "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf",
  "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds",
  "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
];
const Z_OF = new Map<string, number>(CHEMICAL_SYMBOLS.map((s, z) => [s, z]));

/** Atomic number of an element symbol (case-sensitive), or undefined. */
export function atomicNumber(symbol: string): number | undefined {
  return Z_OF.get(symbol);
}

// ---------------------------------------------------------------------------
// Scalars

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$/;
const SPECIAL_FLOAT_RE = /^[+-]?(nan|inf|infinity)$/i;
const INT_RE = /^[+-]?\d+$/;

/** Strict float parse (Fortran `D` exponents and nan/inf accepted); undefined if not a number. */
function parseReal(tok: string): number | undefined {
  if (NUMBER_RE.test(tok)) return Number(tok.replace(/[dD]/, "e"));
  if (SPECIAL_FLOAT_RE.test(tok)) {
    const neg = tok.startsWith("-");
    return /nan/i.test(tok) ? NaN : neg ? -Infinity : Infinity;
  }
  return undefined;
}

function parseBool(tok: string): boolean | undefined {
  if (tok === "T" || tok === "True" || tok === "true") return true;
  if (tok === "F" || tok === "False" || tok === "false") return false;
  return undefined;
}

/** Value of an info entry: number, boolean, number array, or the string itself. */
function parseInfoValue(raw: string, kind: "bare" | "quoted" | "array"): string | number | boolean | number[] {
  const toks = raw.trim().split(kind === "array" ? /[\s,]+/ : /\s+/).filter((t) => t.length > 0);
  if (kind === "array" || toks.length > 1) {
    const nums = toks.map(parseReal);
    if (nums.every((x) => x !== undefined)) return nums as number[];
    return raw;
  }
  if (toks.length === 1 && toks[0] === raw.trim()) {
    const x = parseReal(toks[0]);
    if (x !== undefined) return x;
    const b = parseBool(toks[0]);
    if (b !== undefined) return b;
  }
  return raw;
}

// ---------------------------------------------------------------------------
// Comment line: key=value pairs, ASE style.

interface KeyValue {
  key: string;
  raw: string;
  kind: "bare" | "quoted" | "array" | "flag";
}

/** Split the comment line into key/value pairs; `where` prefixes error messages. */
function tokenizeComment(line: string, where: string): KeyValue[] {
  const out: KeyValue[] = [];
  let i = 0;
  const n = line.length;
  const isWs = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v";
  const readQuoted = (): string => {
    // line[i] === '"'
    let s = "";
    i++;
    while (i < n && line[i] !== '"') {
      if (line[i] === "\\" && i + 1 < n) {
        s += line[i + 1];
        i += 2;
      } else s += line[i++];
    }
    if (i >= n) throw new InputError(`${where}: unterminated quoted string in comment line`);
    i++; // closing quote
    return s;
  };
  const readBracketed = (open: string, close: string): string => {
    const start = ++i;
    while (i < n && line[i] !== close) i++;
    if (i >= n) throw new InputError(`${where}: unterminated '${open}' in comment line`);
    return line.slice(start, i++);
  };
  const readBare = (stopAtEq: boolean): string => {
    const start = i;
    while (i < n && !isWs(line[i]) && !(stopAtEq && line[i] === "=")) i++;
    return line.slice(start, i);
  };
  while (true) {
    while (i < n && isWs(line[i])) i++;
    if (i >= n) break;
    const key = line[i] === '"' ? readQuoted() : readBare(true);
    if (key === "") throw new InputError(`${where}: comment line: '=' without a key at character ${i + 1}`);
    let j = i;
    while (j < n && isWs(line[j])) j++;
    if (j < n && line[j] === "=") {
      i = j + 1;
      while (i < n && isWs(line[i])) i++;
      if (i >= n) throw new InputError(`${where}: comment line: key '${key}' has '=' but no value`);
      const c = line[i];
      if (c === '"') out.push({ key, raw: readQuoted(), kind: "quoted" });
      else if (c === "{") out.push({ key, raw: readBracketed("{", "}"), kind: "array" });
      else if (c === "[") out.push({ key, raw: readBracketed("[", "]"), kind: "array" });
      else out.push({ key, raw: readBare(false), kind: "bare" });
    } else {
      out.push({ key, raw: "", kind: "flag" });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Properties column spec

type ColType = "S" | "R" | "I" | "L";
interface Column {
  name: string;
  type: ColType;
  count: number;
  /** Index of the first token of this column on an atom line. */
  offset: number;
}

const DEFAULT_PROPERTIES = "species:S:1:pos:R:3";

function parseProperties(spec: string, where: string): Column[] {
  const parts = spec.split(":");
  if (parts.length % 3 !== 0 || spec.trim() === "") {
    throw new InputError(`${where}: Properties=${spec}: expected name:type:count triples`);
  }
  const cols: Column[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (let p = 0; p < parts.length; p += 3) {
    const [name, type, countStr] = [parts[p], parts[p + 1], parts[p + 2]];
    if (name === "") throw new InputError(`${where}: Properties=${spec}: empty column name`);
    if (type !== "S" && type !== "R" && type !== "I" && type !== "L") {
      throw new InputError(`${where}: Properties: column '${name}' has unknown type '${type}' (expected S, R, I or L)`);
    }
    if (!/^\d+$/.test(countStr) || Number(countStr) < 1) {
      throw new InputError(`${where}: Properties: column '${name}' has count '${countStr}', expected a positive integer`);
    }
    if (seen.has(name)) throw new InputError(`${where}: Properties: column '${name}' appears twice`);
    seen.add(name);
    const count = Number(countStr);
    cols.push({ name, type, count, offset });
    offset += count;
  }
  return cols;
}

// ---------------------------------------------------------------------------
// Reader

/** Parse every frame of an extended XYZ text. `file` is used in error messages only. */
export function parseExtxyz(text: string, file = "<string>"): Frame[] {
  const lines = text.split(/\r?\n/);
  // Trailing blank lines (final newline) are not frames.
  let end = lines.length;
  while (end > 0 && lines[end - 1].trim() === "") end--;
  const frames: Frame[] = [];
  let li = 0;
  while (li < end) {
    const frameNo = frames.length + 1;
    const countLine = li + 1; // 1-based
    const countTok = lines[li].trim();
    if (countTok === "") {
      throw new InputError(`${file}:${countLine}: blank line where the atom count of frame ${frameNo} was expected`);
    }
    if (/^-\d+$/.test(countTok)) {
      throw new InputError(`${file}:${countLine}: atom count '${countTok}' is negative (frame ${frameNo} needs 0 or more atoms)`);
    }
    if (!/^\d+$/.test(countTok)) {
      throw new InputError(`${file}:${countLine}: atom count '${countTok}' is not an integer`);
    }
    const n = Number(countTok);
    if (!Number.isSafeInteger(n)) throw new InputError(`${file}:${countLine}: atom count '${countTok}' is too large`);
    if (li + 1 >= end) {
      throw new InputError(`${file}:${countLine + 1}: truncated frame ${frameNo}: missing comment line`);
    }
    const available = end - (li + 2);
    if (available < n) {
      throw new InputError(
        `${file}:${end + 1}: truncated frame ${frameNo}: expected ${n} atom lines after line ${countLine + 1}, found ${available}`,
      );
    }
    frames.push(parseFrame(lines, li, n, file, frameNo));
    li += 2 + n;
  }
  return frames;
}

function parseFrame(lines: string[], li: number, n: number, file: string, frameNo: number): Frame {
  const commentLineNo = li + 2;
  const where = `${file}:${commentLineNo}`;
  const kvs = tokenizeComment(lines[li + 1], where);

  let cell: Float64Array | undefined;
  let pbc: [boolean, boolean, boolean] | undefined;
  let propSpec = DEFAULT_PROPERTIES;
  let energy: number | undefined;
  const info: Frame["info"] = {};
  for (const { key, raw, kind } of kvs) {
    if (key === "Lattice") {
      const toks = raw.trim().split(/[\s,]+/).filter((t) => t !== "");
      if (toks.length !== 9) throw new InputError(`${where}: Lattice: expected 9 numbers, got ${toks.length}`);
      cell = new Float64Array(9);
      toks.forEach((t, k) => {
        const x = parseReal(t);
        if (x === undefined || !Number.isFinite(x)) throw new InputError(`${where}: Lattice: '${t}' is not a finite number`);
        cell![k] = x;
      });
    } else if (key === "pbc") {
      const toks = raw.trim().split(/[\s,]+/).filter((t) => t !== "");
      const bs = toks.map(parseBool);
      if (bs.length !== 3 || bs.some((b) => b === undefined)) {
        throw new InputError(`${where}: pbc="${raw}": expected three of T/F`);
      }
      pbc = bs as [boolean, boolean, boolean];
    } else if (key === "Properties") {
      propSpec = raw;
    } else if (key === "energy") {
      const x = kind === "flag" ? undefined : parseReal(raw.trim());
      if (x === undefined) throw new InputError(`${where}: energy '${raw}' is not a number`);
      energy = x;
    } else {
      info[key] = kind === "flag" ? true : parseInfoValue(raw, kind);
    }
  }
  const cols = parseProperties(propSpec, where);
  const ncols = cols.reduce((s, c) => s + c.count, 0);
  const posCol = cols.find((c) => c.name === "pos" || c.name === "positions");
  if (!posCol) throw new InputError(`${where}: Properties=${propSpec}: no 'pos' column`);
  if (posCol.type !== "R" || posCol.count !== 3) {
    throw new InputError(`${where}: Properties: column '${posCol.name}' must be R:3, got ${posCol.type}:${posCol.count}`);
  }
  const speciesCol = cols.find((c) => c.name === "species");
  const zCol = cols.find((c) => c.name === "Z");
  if (!speciesCol && !zCol) throw new InputError(`${where}: Properties=${propSpec}: no 'species' or 'Z' column`);
  if (speciesCol && (speciesCol.type !== "S" || speciesCol.count !== 1)) {
    throw new InputError(`${where}: Properties: column 'species' must be S:1, got ${speciesCol.type}:${speciesCol.count}`);
  }
  if (zCol && (zCol.type !== "I" || zCol.count !== 1)) {
    throw new InputError(`${where}: Properties: column 'Z' must be I:1, got ${zCol.type}:${zCol.count}`);
  }

  // Allocate storage for every column.
  const store = new Map<Column, Float64Array | Int32Array | string[]>();
  for (const c of cols) {
    store.set(c, c.type === "R" ? new Float64Array(n * c.count) : c.type === "S" ? new Array<string>(n * c.count) : new Int32Array(n * c.count));
  }
  for (let a = 0; a < n; a++) {
    const lineNo = li + 3 + a;
    const at = `${file}:${lineNo}`;
    const toks = lines[li + 2 + a].trim().split(/\s+/).filter((t) => t !== "");
    if (toks.length !== ncols) {
      throw new InputError(`${at}: expected ${ncols} columns (Properties=${propSpec}), got ${toks.length}`);
    }
    for (const c of cols) {
      const dst = store.get(c)!;
      for (let k = 0; k < c.count; k++) {
        const tok = toks[c.offset + k];
        const idx = a * c.count + k;
        const colDesc = `column ${c.offset + k + 1} (${c.name})`;
        if (c.type === "S") (dst as string[])[idx] = tok;
        else if (c.type === "R") {
          const x = parseReal(tok);
          if (x === undefined) throw new InputError(`${at}: ${colDesc}: '${tok}' is not a number`);
          (dst as Float64Array)[idx] = x;
        } else if (c.type === "I") {
          if (!INT_RE.test(tok) || Math.abs(Number(tok)) > 2147483647) {
            throw new InputError(`${at}: ${colDesc}: '${tok}' is not a 32-bit integer`);
          }
          (dst as Int32Array)[idx] = Number(tok);
        } else {
          const b = parseBool(tok);
          if (b === undefined) throw new InputError(`${at}: ${colDesc}: '${tok}' is not a logical (T/F)`);
          (dst as Int32Array)[idx] = b ? 1 : 0;
        }
      }
    }
  }

  const positions = store.get(posCol) as Float64Array;
  for (let i = 0; i < positions.length; i++) {
    if (!Number.isFinite(positions[i])) {
      const a = Math.floor(i / 3);
      const what = Number.isNaN(positions[i]) ? "NaN" : "infinite value";
      throw new InputError(`${file}:${li + 3 + a}: frame ${frameNo}: ${what} in positions (atom ${a + 1})`);
    }
  }

  const numbers = new Int32Array(n);
  let symbols: string[];
  if (speciesCol) {
    symbols = store.get(speciesCol) as string[];
    for (let a = 0; a < n; a++) {
      const z = atomicNumber(symbols[a]);
      if (z === undefined) {
        throw new InputError(`${file}:${li + 3 + a}: unknown element symbol '${symbols[a]}' (atom ${a + 1})`);
      }
      numbers[a] = z;
    }
    if (zCol) {
      const zs = store.get(zCol) as Int32Array;
      for (let a = 0; a < n; a++) {
        if (zs[a] !== numbers[a]) {
          throw new InputError(`${file}:${li + 3 + a}: Z=${zs[a]} disagrees with species '${symbols[a]}' (atom ${a + 1})`);
        }
      }
    }
  } else {
    const zs = store.get(zCol!) as Int32Array;
    symbols = new Array<string>(n);
    for (let a = 0; a < n; a++) {
      if (zs[a] < 0 || zs[a] >= CHEMICAL_SYMBOLS.length) {
        throw new InputError(`${file}:${li + 3 + a}: atomic number ${zs[a]} is not an element (atom ${a + 1})`);
      }
      numbers[a] = zs[a];
      symbols[a] = CHEMICAL_SYMBOLS[zs[a]];
    }
  }

  const arrays: Frame["arrays"] = {};
  for (const c of cols) {
    if (c === posCol || c === speciesCol || c === zCol) continue;
    arrays[c.name] = store.get(c)!;
  }
  const frame: Frame = {
    symbols,
    numbers,
    positions,
    pbc: pbc ?? (cell ? [true, true, true] : [false, false, false]),
    info,
    arrays,
  };
  if (cell) frame.cell = cell;
  if (energy !== undefined) frame.energy = energy;
  const f = cols.find((c) => c.name === "forces");
  if (f && f.type === "R" && f.count === 3) frame.forces = arrays.forces as Float64Array;
  return frame;
}

/** Read every frame of an extended XYZ file. */
export function readExtxyz(path: string): Frame[] {
  return parseExtxyz(readInputText(path), path);
}

/** The structures a command works on: readExtxyz, and a file holding none is bad input. */
export function readFrames(path: string): Frame[] {
  const frames = readExtxyz(path);
  if (!frames.length) throw new InputError(`${path}: no frames`);
  return frames;
}

// ---------------------------------------------------------------------------
// Writer

/** 17 significant digits: enough for every float64 to read back bit-identical. */
function fmtReal(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (Object.is(x, -0)) return "-0.0000000000000000";
  return x.toPrecision(17);
}

function fmtInfoNumber(x: number): string {
  return Number.isInteger(x) && Math.abs(x) < 1e15 ? String(x) : fmtReal(x);
}

/** Quote a comment-line token when needed, escaping `\` and `"`. */
function quoteIfNeeded(s: string): string {
  if (s !== "" && !/[\s"=\\{}[\]]/.test(s)) return s;
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function alwaysQuote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function formatInfoValue(v: string | number | boolean | number[]): string {
  if (typeof v === "boolean") return v ? "T" : "F";
  if (typeof v === "number") return fmtInfoNumber(v);
  if (Array.isArray(v)) return alwaysQuote(v.map(fmtInfoNumber).join(" "));
  // A string that would read back as a number or boolean must be quoted and still
  // would be re-typed; that is ASE's behaviour too.
  return quoteIfNeeded(v);
}

const RESERVED = new Set(["Lattice", "Properties", "pbc", "energy"]);

/** Format frames as extended XYZ text (floats with 17 significant digits). */
export function formatExtxyz(frames: Frame[]): string {
  const out: string[] = [];
  frames.forEach((fr, fi) => {
    const where = `formatExtxyz: frame ${fi + 1}`;
    const n = fr.positions.length / 3;
    if (!Number.isInteger(n)) throw new InputError(`${where}: positions length ${fr.positions.length} is not a multiple of 3`);
    let symbols = fr.symbols;
    if (!symbols || symbols.length !== n) {
      if (fr.numbers.length !== n) throw new InputError(`${where}: ${n} positions but ${fr.symbols.length} symbols and ${fr.numbers.length} numbers`);
      symbols = Array.from(fr.numbers, (z) => {
        const s = CHEMICAL_SYMBOLS[z];
        if (s === undefined) throw new InputError(`${where}: atomic number ${z} is not an element`);
        return s;
      });
    }
    // Columns: species, pos, forces, then the remaining per-atom arrays.
    const cols: { name: string; type: ColType; count: number; data: Float64Array | Int32Array | string[] }[] = [];
    const addCol = (name: string, data: Float64Array | Int32Array | string[]) => {
      if (data.length % Math.max(n, 1) !== 0 || (n === 0 && data.length !== 0)) {
        throw new InputError(`${where}: array '${name}' has ${data.length} values, not a multiple of ${n} atoms`);
      }
      const count = n === 0 ? 1 : data.length / n;
      const type: ColType = data instanceof Float64Array ? "R" : data instanceof Int32Array ? "I" : "S";
      cols.push({ name, type, count, data });
    };
    const forces = fr.forces ?? (fr.arrays.forces as Float64Array | undefined);
    if (forces) addCol("forces", forces);
    for (const [name, data] of Object.entries(fr.arrays)) {
      if (name === "forces" || name === "species" || name === "pos" || name === "positions" || name === "Z") continue;
      addCol(name, data);
    }
    const props = ["species:S:1", "pos:R:3", ...cols.map((c) => `${c.name}:${c.type}:${c.count}`)].join(":");
    const parts: string[] = [];
    if (fr.cell) parts.push(`Lattice="${Array.from(fr.cell, fmtReal).join(" ")}"`);
    parts.push(`Properties=${props}`);
    if (fr.energy !== undefined) parts.push(`energy=${fmtReal(fr.energy)}`);
    for (const [k, v] of Object.entries(fr.info)) {
      if (RESERVED.has(k)) continue;
      if (/[\r\n]/.test(k) || (typeof v === "string" && /[\r\n]/.test(v))) {
        throw new InputError(`${where}: info '${k}' contains a line break, which extended XYZ cannot hold`);
      }
      parts.push(`${quoteIfNeeded(k)}=${formatInfoValue(v)}`);
    }
    parts.push(`pbc="${fr.pbc.map((b) => (b ? "T" : "F")).join(" ")}"`);
    out.push(String(n), parts.join(" "));
    for (let a = 0; a < n; a++) {
      const sym = symbols[a];
      if (!sym || /\s/.test(sym)) throw new InputError(`${where}: atom ${a + 1}: bad symbol '${sym}'`);
      const row: string[] = [sym, fmtReal(fr.positions[3 * a]), fmtReal(fr.positions[3 * a + 1]), fmtReal(fr.positions[3 * a + 2])];
      for (const c of cols) {
        for (let k = 0; k < c.count; k++) {
          const v = c.data[a * c.count + k];
          if (c.type === "R") row.push(fmtReal(v as number));
          else if (c.type === "I") row.push(String(v));
          else {
            const s = String(v);
            if (s === "" || /\s/.test(s)) throw new InputError(`${where}: array '${c.name}' atom ${a + 1}: string '${s}' is empty or has whitespace`);
            row.push(s);
          }
        }
      }
      out.push(row.join(" "));
    }
  });
  return out.length ? out.join("\n") + "\n" : "";
}

/**
 * Write frames to `path`. Refuses to replace an existing file unless
 * `overwrite` is set; writes a temporary file next to it and renames it, so a
 * crash never leaves a half-written trajectory under the real name.
 */
export function writeExtxyz(path: string, frames: Frame[], opts: { overwrite?: boolean } = {}): void {
  writeFileAtomic(path, formatExtxyz(frames), opts);
}
