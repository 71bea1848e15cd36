/**
 * JSON for hand-written files: parse, and on a syntax error say WHERE as
 * `file:LINE:COLUMN: what` (1-based, columns in characters). `JSON.parse`
 * gives a character offset for only some errors, so a small grammar scanner
 * finds the position itself; it also refuses duplicate keys, which
 * `JSON.parse` silently resolves to the last one.
 */

export interface JsonSyntaxProblem {
  line: number;
  column: number;
  message: string;
}

function lineCol(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

class Fail {
  constructor(readonly pos: number, readonly message: string) {}
}

/** Scan `text` as JSON; return the first problem (syntax or duplicate key) or null. */
export function findJsonProblem(text: string): JsonSyntaxProblem | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const what = (p: number) => (p >= text.length ? "end of input" : `'${text[p]}'`);
  const expect = (c: string, context: string) => {
    if (text[i] !== c) throw new Fail(i, `expected '${c}' ${context}, found ${what(i)}`);
    i++;
  };
  const str = (): string => {
    const start = i;
    expect('"', "to start a string");
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) throw new Fail(i, "control character in string (escape it)");
      if (text[i] === "\\") {
        i++;
        const e = text[i];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Fail(i - 1, "bad \\u escape");
          i += 5;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new Fail(i - 1, `bad escape '\\${e ?? ""}'`);
      }
      i++;
    }
    if (i >= text.length) throw new Fail(start, "unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const num = () => {
    NUMBER.lastIndex = i; // sticky: no copy of the rest of the text per number
    const m = NUMBER.exec(text);
    if (!m || m[0] === "" || m[0] === "-") throw new Fail(i, `unexpected ${what(i)}`);
    i += m[0].length;
  };
  const value = (depth: number): void => {
    if (depth > 512) throw new Fail(i, "nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      const keys = new Set<string>();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        const kpos = i;
        if (text[i] !== '"') throw new Fail(i, `expected a double-quoted key, found ${what(i)}`);
        const k = str();
        if (keys.has(k)) throw new Fail(kpos, `duplicate key '${k}'`);
        keys.add(k);
        ws();
        expect(":", "after a key");
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "}") throw new Fail(i, "trailing comma before '}'");
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        throw new Fail(i, `expected ',' or '}' after a value, found ${what(i)}`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (text[i] === "]") throw new Fail(i, "trailing comma before ']'");
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        throw new Fail(i, `expected ',' or ']' after an array element, found ${what(i)}`);
      }
    }
    if (c === '"') {
      str();
      return;
    }
    for (const lit of ["true", "false", "null"]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      num();
      return;
    }
    throw new Fail(i, `unexpected ${what(i)}`);
  };
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1; // tolerate a byte-order mark
    value(0);
    ws();
    if (i < text.length) throw new Fail(i, `unexpected ${what(i)} after the JSON value`);
    return null;
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    return { ...lineCol(text, e.pos), message: e.message };
  }
}

/**
 * Parse JSON text; on failure return the problem as `LINE:COLUMN: message`
 * (the caller prefixes the file name).
 */
export function parseJsonText(text: string): { value: unknown } | { problem: string } {
  const p = findJsonProblem(text);
  if (p) return { problem: `${p.line}:${p.column}: ${p.message}` };
  try {
    return { value: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch (e) {
    // The scanner accepted what JSON.parse refused: report JSON.parse's words with its offset if any.
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    const { line, column } = lineCol(text, m ? Number(m[1]) : text.length);
    return { problem: `${line}:${column}: ${msg}` };
  }
}
