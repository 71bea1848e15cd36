/**
 * The integer types of linear quantisation (ONNX QuantizeLinear outputs):
 * their ranges, storage and .npy dtypes. int4/uint4 are stored one value per
 * byte (int8/uint8) unless packed (see pack.ts).
 */
import { ints, type IntArrayCtor } from "../wasm/arena.js";
import { InputError } from "../errors.js";

export const QUANT_TYPES = ["int8", "uint8", "int4", "uint4", "int16", "uint16", "int32"] as const;
export type QuantType = (typeof QUANT_TYPES)[number];

export type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array;

export interface QuantTypeInfo {
  name: QuantType;
  bits: number;
  signed: boolean;
  min: number;
  max: number;
  /** bytes per stored value */
  bytes: 1 | 2 | 4;
  /** .npy dtype of the stored values */
  dtype: "int8" | "uint8" | "int16" | "uint16" | "int32";
}

const BITS: Record<QuantType, number> = { int8: 8, uint8: 8, int4: 4, uint4: 4, int16: 16, uint16: 16, int32: 32 };

/** Facts about a quantisation type; `what` names the option in error messages. */
export function quantType(name: string, what = "type"): QuantTypeInfo {
  if (!(QUANT_TYPES as readonly string[]).includes(name)) {
    throw new InputError(`${what}: '${name}' is not one of ${QUANT_TYPES.join(", ")}`);
  }
  const t = name as QuantType;
  const bits = BITS[t];
  const signed = !t.startsWith("u");
  const bytes = bits <= 8 ? 1 : bits <= 16 ? 2 : 4;
  const dtype = (bytes === 1 ? (signed ? "int8" : "uint8") : bytes === 2 ? (signed ? "int16" : "uint16") : "int32") as QuantTypeInfo["dtype"];
  return {
    name: t, bits, signed, bytes, dtype,
    min: signed ? -(2 ** (bits - 1)) : 0,
    max: signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1,
  };
}

/** `make` applied to the constructor of the type's storage array (one place maps dtypes to arrays). */
function storage(t: QuantTypeInfo, make: <T extends IntArray>(ctor: IntArrayCtor<T>) => T): IntArray {
  switch (t.dtype) {
    case "int8": return make(Int8Array);
    case "uint8": return make(Uint8Array);
    case "int16": return make(Int16Array);
    case "uint16": return make(Uint16Array);
    default: return make(Int32Array);
  }
}

/**
 * An array of the storage type that the caller fills completely (quantiser and
 * requantiser outputs): from the step arena inside an emulated op (ints).
 */
export function outInts(t: QuantTypeInfo, n: number): IntArray {
  return storage(t, (ctor) => ints(ctor, n));
}

/** A zeroed array of the storage type. */
export function allocInts(t: QuantTypeInfo, n: number): IntArray {
  return storage(t, (ctor) => new ctor(n));
}

/**
 * The raw bytes of WASM output as the storage type: a view of the same memory
 * (no copy; a copy only where the offset is not aligned to the type), for the
 * caller to copy out before the memory is written again.
 */
export function intsView(t: QuantTypeInfo, bytes: Uint8Array): IntArray {
  const b = bytes.byteOffset % t.bytes === 0 ? bytes : bytes.slice();
  return storage(t, (ctor) => new ctor(b.buffer, b.byteOffset, b.byteLength / t.bytes));
}

/** Check that `v` is an integer inside the type's range. */
export function checkInRange(v: number, t: QuantTypeInfo, what: string): number {
  if (!Number.isInteger(v) || v < t.min || v > t.max) {
    throw new InputError(`${what}: ${v} is not an integer in the ${t.name} range [${t.min}, ${t.max}]`);
  }
  return v;
}
