/**
 * `hwsim serve --ipi ADDRESS`: an i-PI force client. It connects to an MD
 * engine's i-PI server (i-PI, ASE's SocketIOCalculator, …) and answers every
 * POSDATA with the energy and forces of the model on one hw-model, so the
 * engine keeps its own integrator and thermostat and gets emulated-chip forces.
 * The protocol lives in workflows/ipi.ts; this file wires the model to it.
 */
import { createConnection, type Socket } from "node:net";
import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { InputError } from "../../errors.js";
import { readFrames } from "../../io/extxyz.js";
import { loadHwForCommand } from "./hw.js";
import { modelHwOptions } from "./predict.js";
import { checkFrames, loadModel } from "../../workflows/load-model.js";
import { predictBackend, predictFrame } from "../../workflows/predict.js";
import { modelOptions, seedOption, type ModelFlags } from "../flags.js";
import { parseNumber } from "../options.js";
import { clusterVirial, runIpiClient } from "../../workflows/ipi.js";

interface ServeFlags extends ModelFlags {
  ipi: string;
  hw: string;
  timeout?: string;
}

/** Where to connect: `unix:NAME` is the socket file /tmp/ipi_NAME (as i-PI and ASE name it); `HOST:PORT` is TCP. */
export type IpiAddress = { path: string; label: string } | { host: string; port: number; label: string };

export function parseIpiAddress(v: string): IpiAddress {
  const bad = (why: string) => new InputError(`serve: --ipi '${v}': ${why} (expected unix:NAME or HOST:PORT)`);
  if (v.startsWith("unix:")) {
    const name = v.slice(5);
    if (!/^[^/\0]+$/.test(name)) throw bad("the socket name must be non-empty without '/'");
    return { path: `/tmp/ipi_${name}`, label: `unix:${name} (/tmp/ipi_${name})` };
  }
  const colon = v.lastIndexOf(":");
  if (colon <= 0) throw bad("no host and port");
  const host = v.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const portText = v.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw bad(`port '${portText}' is not in 1..65535`);
  return { host, port, label: v };
}

function connect(a: IpiAddress): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = "path" in a ? createConnection(a.path) : createConnection(a.port, a.host);
    const fail = (e: NodeJS.ErrnoException) => {
      s.destroy();
      reject(new InputError(`serve: cannot connect to ${a.label}: ${e.code ?? e.message} (is the i-PI server listening?)`));
    };
    s.once("error", fail);
    s.once("connect", () => {
      s.off("error", fail);
      s.setNoDelay?.(true);
      resolve(s);
    });
  });
}

export function registerServeCommands(program: Command, ctx: CliContext): void {
  modelHwOptions(
    program
      .command("serve")
      .description("i-PI force client: connect to an MD engine's i-PI server (i-PI, ASE SocketIOCalculator) and answer every step with the model's forces on a hw-model")
      .requiredOption("--ipi <address>", "unix:NAME (the socket /tmp/ipi_NAME) or HOST:PORT"),
  )
    .option("--timeout <seconds>", "time allowed for the rest of a message once it has begun (default 30; waiting between messages is never limited)")
    .argument("<template>", "extended XYZ whose first frame gives the species and pbc (positions and cell come from the server)")
    .action(async (templatePath: string, o: ServeFlags) => {
      const mopts = modelOptions(o);
      const seed = seedOption(o.seed);
      const address = parseIpiAddress(o.ipi);
      const timeoutS = o.timeout === undefined ? 30 : parseNumber(o.timeout, "--timeout");
      if (!(timeoutS > 0)) throw new InputError(`--timeout: '${o.timeout}' is not a positive number of seconds`);
      const hw = loadHwForCommand(ctx, o.hw);
      if (!hw) return;
      const model = loadModel(o.model, mopts);
      const template = readFrames(templatePath)[0];
      checkFrames(model, [template], templatePath);
      const periodic = template.pbc.some((p) => p);
      if (periodic) {
        ctx.io.err(`hwsim: serve: note: ${templatePath} is periodic; the virial sent is zero (the model gives forces, not the cell derivative): constant-pressure runs are not supported\n`);
      }
      const backend = predictBackend(hw, seed);
      const socket = await connect(address);
      try {
        const session = await runIpiClient(socket, {
          natoms: template.numbers.length,
          midMessageTimeoutMs: timeoutS * 1000,
          evaluate: (positions, cell) => {
            let r;
            try {
              r = predictFrame(model, backend, { numbers: template.numbers, positions, cell: periodic ? cell : undefined, pbc: template.pbc });
            } catch (e) {
              if (e instanceof InputError) throw new InputError(`serve: POSDATA: ${e.message}`);
              throw e;
            }
            return { ...r, virial: periodic ? new Float64Array(9) : clusterVirial(positions, r.forces) };
          },
        });
        const n = session.evaluations;
        ctx.io.out(`serve: ${n} force evaluation${n === 1 ? "" : "s"} on ${hw.name}; ${session.ended === "EXIT" ? "the server sent EXIT" : "the server closed the connection"}\n`);
      } finally {
        socket.destroy();
        backend.ops.reset();
      }
    });
}
