/**
 * Readers for the ROM files of src/lut/rom.ts (and hand-written ones in the
 * same formats): `$readmemh` .mem, Xilinx .coe, Intel .mif. They return the
 * words in address order; malformed files give an InputError naming the line.
 */
import { InputError } from "../errors.js";

export interface ParsedRom {
  words: number[];
  /** declared word width (mif WIDTH); null when the format has no declaration */
  width: number | null;
}

function word(tok: string, where: string): number {
  if (!/^[0-9a-fA-F]+$/.test(tok)) throw new InputError(`${where}: '${tok}' is not a hex word`);
  return parseInt(tok, 16);
}

/** $readmemh: hex words separated by white space, `//` and block comments, optional `@addr`. */
export function parseMem(text: string, file = "rom.mem"): ParsedRom {
  const words: number[] = [];
  let addr = 0;
  const body = text.replace(/\/\*[\s\S]*?\*\//g, " ");
  body.split("\n").forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, "").trim();
    if (!code) return;
    for (const tok of code.split(/\s+/)) {
      if (tok.startsWith("@")) {
        addr = word(tok.slice(1), `${file}:${i + 1}`);
        continue;
      }
      words[addr++] = word(tok.replace(/_/g, ""), `${file}:${i + 1}`);
    }
  });
  return { words, width: null };
}

/** COE: `;` comments, memory_initialization_radix=16; memory_initialization_vector=w,w,...; */
export function parseCoe(text: string, file = "rom.coe"): ParsedRom {
  // comments are whole lines starting with ';'; statements end with ';'
  const stmts = text
    .split("\n")
    .filter((l) => !/^\s*;/.test(l))
    .join("\n")
    .split(";")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  let radix = 0;
  let words: number[] | null = null;
  for (const s of stmts) {
    const m = /^([a-z_]+)\s*=\s*([\s\S]*)$/i.exec(s);
    if (!m) throw new InputError(`${file}: unexpected '${s.slice(0, 40)}'`);
    const key = m[1].toLowerCase();
    if (key === "memory_initialization_radix") {
      radix = Number(m[2].trim());
      if (radix !== 16) throw new InputError(`${file}: memory_initialization_radix=${m[2].trim()}: only 16 is read`);
    } else if (key === "memory_initialization_vector") {
      words = m[2].split(/[\s,]+/).filter((t) => t).map((t) => word(t, file));
    } else {
      throw new InputError(`${file}: unknown key '${m[1]}'`);
    }
  }
  if (radix !== 16) throw new InputError(`${file}: missing memory_initialization_radix=16`);
  if (!words) throw new InputError(`${file}: missing memory_initialization_vector`);
  return { words, width: null };
}

/** MIF: `--` and `%...%` comments, WIDTH, DEPTH, ADDRESS_RADIX=HEX, DATA_RADIX=HEX, CONTENT BEGIN addr : word; ... END; */
export function parseMif(text: string, file = "rom.mif"): ParsedRom {
  const body = text.replace(/%[^%]*%/g, " ").split("\n").map((l) => l.replace(/--.*$/, "")).join("\n");
  const m = /CONTENT\s+BEGIN([\s\S]*?)END\s*;/i.exec(body);
  if (!m) throw new InputError(`${file}: missing CONTENT BEGIN ... END;`);
  const head = body.slice(0, m.index);
  const decl: Record<string, string> = {};
  for (const s of head.split(";").map((t) => t.trim()).filter((t) => t)) {
    const kv = /^([A-Z_]+)\s*=\s*(\S+)$/i.exec(s);
    if (!kv) throw new InputError(`${file}: unexpected '${s}'`);
    decl[kv[1].toUpperCase()] = kv[2].toUpperCase();
  }
  const width = Number(decl.WIDTH);
  const depth = Number(decl.DEPTH);
  if (!Number.isInteger(width) || width < 1) throw new InputError(`${file}: WIDTH missing or invalid`);
  if (!Number.isInteger(depth) || depth < 1) throw new InputError(`${file}: DEPTH missing or invalid`);
  if (decl.ADDRESS_RADIX !== "HEX" || decl.DATA_RADIX !== "HEX") throw new InputError(`${file}: only ADDRESS_RADIX=HEX and DATA_RADIX=HEX are read`);
  const words: number[] = new Array(depth);
  for (const s of m[1].split(";").map((t) => t.trim()).filter((t) => t)) {
    const e = /^([0-9a-f]+)\s*:\s*([0-9a-f]+)$/i.exec(s);
    if (!e) throw new InputError(`${file}: content entry '${s}' is not 'addr : word'`);
    const a = word(e[1], file);
    if (a >= depth) throw new InputError(`${file}: address ${e[1]} beyond DEPTH ${depth}`);
    words[a] = word(e[2], file);
  }
  for (let i = 0; i < depth; i++) if (words[i] === undefined) throw new InputError(`${file}: no word at address ${i.toString(16)}`);
  return { words, width };
}
