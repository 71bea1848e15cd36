/**
 * The `hwsim` command: parses arguments, calls a command module, maps errors to
 * exit codes (0 ok, 1 failure, 2 bad input) with one-line messages.
 */
import { Command, CommanderError } from "commander";
import { InputError } from "../errors.js";
import { type CliContext, type CliIO, processIO } from "./context.js";
import { registerFormatCommands } from "./commands/formats.js";
import { registerQuantizeCommands } from "./commands/quantize.js";
import { registerMatmulCommands } from "./commands/matmul.js";
import { registerSoftmaxCommands } from "./commands/softmax.js";
import { registerLutCommands } from "./commands/lut.js";
import { registerHwCommands } from "./commands/hw.js";
import { registerCostCommands } from "./commands/cost.js";
import { registerXcheckCommands } from "./commands/xcheck.js";
import { registerPredictCommands } from "./commands/predict.js";
import { registerEvaluateCommands } from "./commands/evaluate.js";

export type Register = (program: Command, ctx: CliContext) => void;

/** Command modules, in the order `--help` lists them. */
const COMMANDS: Register[] = [
  registerFormatCommands,
  registerQuantizeCommands,
  registerMatmulCommands,
  registerSoftmaxCommands,
  registerLutCommands,
  registerHwCommands,
  registerCostCommands,
  registerPredictCommands,
  registerEvaluateCommands,
  registerXcheckCommands,
];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command("hwsim");
  program
    .description("Bit-accurate emulator of neural-accelerator arithmetic for machine-learned interatomic potentials")
    .version("0.1.0")
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => ctx.io.out(s),
      writeErr: (s) => ctx.io.err(s),
      // commander's own messages ("error: unknown option '--x'") become our one-line format
      outputError: (s, write) => write(`hwsim: ${s.replace(/^error: /, "").trim()}\n`),
    });
  for (const reg of COMMANDS) reg(program, ctx);
  return program;
}

export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const ctx: CliContext = { io, exitCode: 0 };
  const program = buildProgram(ctx);
  program.commands.forEach((c) => c.exitOverride());
  try {
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage errors are bad input
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
      return 2;
    }
    if (e instanceof InputError) {
      io.err(`hwsim: ${e.message}\n`);
      return 2;
    }
    const err = e as Error;
    io.err(`hwsim: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.HWSIM_DEBUG) io.err(`${err?.stack}\n`);
    return 1;
  }
}
