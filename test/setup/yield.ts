// After every test, one turn of the event loop. Vitest runs a file's tests one
// after another without one, so a file of synchronous tests (WASM kernels,
// whole model steps) keeps its worker from reading vitest's RPC replies; past
// 60 s the worker reports "Timeout calling onTaskUpdate" as an unhandled error
// and the run fails although every test passed (seen on a loaded 2-core CI).
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
