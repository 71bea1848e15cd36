// A tiny PyG-layout SchNet (hidden 2, filters 2, 2 Gaussians up to 2.5 Å, one
// interaction) written to `path`: shapes matter to the cost tests, values do
// not; every tensor holds step·1, step·2, … .
import { writeSafetensors, type TensorToWrite } from "../../src/io/safetensors.js";

export function writeTinySchNet(path: string, step: number): void {
  const t = (shape: number[]): TensorToWrite => ({ dtype: "F32", shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => step * (i + 1)) });
  writeSafetensors(path, {
    "embedding.weight": t([10, 2]),
    "distance_expansion.offset": { dtype: "F32", shape: [2], data: [0, 2.5] },
    "interactions.0.mlp.0.weight": t([2, 2]),
    "interactions.0.mlp.0.bias": t([2]),
    "interactions.0.mlp.2.weight": t([2, 2]),
    "interactions.0.mlp.2.bias": t([2]),
    "interactions.0.conv.lin1.weight": t([2, 2]),
    "interactions.0.conv.lin2.weight": t([2, 2]),
    "interactions.0.conv.lin2.bias": t([2]),
    "interactions.0.lin.weight": t([2, 2]),
    "interactions.0.lin.bias": t([2]),
    "lin1.weight": t([1, 2]),
    "lin1.bias": t([1]),
    "lin2.weight": t([1, 1]),
    "lin2.bias": t([1]),
  });
}
