/**
 * The `hwsim` command: parses arguments, calls a command module, maps errors to
 * exit codes (0 ok, 1 failure, 2 bad input) with one-line messages.
 */
import { Command, CommanderError } from "commander";
import { ExistsError, InputError } from "../errors.js";
import { type CliContext, type CliIO, processIO } from "./context.js";
export type Register = (program: Command, ctx: CliContext) => void;

/**
 * Command modules, in the order `--help` lists them, with the commands each
 * registers. A module is imported only when needed: `hwsim matmul …` loads the
 * matmul module alone (start-up time is part of every job); `--help`, no
 * command or an unknown one load them all. test/cli-formats.test.ts checks
 * the names against what the modules register.
 */
export const COMMAND_MODULES: { names: readonly string[]; load: () => Promise<Register> }[] = [
  { names: ["cast", "decode", "formats"], load: async () => (await import("./commands/formats.js")).registerFormatCommands },
  { names: ["quantize", "dequantize"], load: async () => (await import("./commands/quantize.js")).registerQuantizeCommands },
  { names: ["matmul"], load: async () => (await import("./commands/matmul.js")).registerMatmulCommands },
  { names: ["softmax"], load: async () => (await import("./commands/softmax.js")).registerSoftmaxCommands },
  { names: ["lut"], load: async () => (await import("./commands/lut.js")).registerLutCommands },
  { names: ["hw"], load: async () => (await import("./commands/hw.js")).registerHwCommands },
  { names: ["cost"], load: async () => (await import("./commands/cost.js")).registerCostCommands },
  { names: ["predict"], load: async () => (await import("./commands/predict.js")).registerPredictCommands },
  { names: ["md"], load: async () => (await import("./commands/md.js")).registerMdCommands },
  { names: ["evaluate"], load: async () => (await import("./commands/evaluate.js")).registerEvaluateCommands },
  { names: ["sweep"], load: async () => (await import("./commands/sweep.js")).registerSweepCommands },
  { names: ["xcheck"], load: async () => (await import("./commands/xcheck.js")).registerXcheckCommands },
  { names: ["rtl"], load: async () => (await import("./commands/rtl.js")).registerRtlCommands },
  { names: ["serve"], load: async () => (await import("./commands/serve.js")).registerServeCommands },
];

/** The program with every command, or only the module of `command` when it names one. */
export async function buildProgram(ctx: CliContext, command?: string): Promise<Command> {
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
  const owner = COMMAND_MODULES.find((m) => command !== undefined && m.names.includes(command));
  for (const m of owner ? [owner] : COMMAND_MODULES) (await m.load())(program, ctx);
  return program;
}

/**
 * Commander gives an option that takes a value whatever argument follows it, even
 * another option: `--model --arch schnet` would read "--arch" as the model path and
 * then blame --arch for being missing. Refuse that first, naming the option left
 * without its value.
 */
function checkOptionValues(program: Command, argv: readonly string[]): void {
  let cmd = program;
  let i = 0;
  for (; i < argv.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === argv[i] || c.aliases().includes(argv[i]));
    if (!sub) break;
    cmd = sub;
  }
  const known = (t: string) => cmd.options.find((o) => o.long === t) ?? program.options.find((o) => o.long === t);
  for (; i < argv.length - 1; i++) {
    if (argv[i] === "--") return; // everything after is an operand
    const opt = known(argv[i]);
    const next = argv[i + 1];
    if (opt?.required && next.startsWith("--") && known(next.split("=")[0])) {
      throw new InputError(`${opt.long}: missing its value (the next argument is the option ${next.split("=")[0]})`);
    }
  }
}

export async function runCli(argv: string[], io: CliIO = processIO): Promise<number> {
  const ctx: CliContext = { io, exitCode: 0 };
  const program = await buildProgram(ctx, argv[0]);
  program.commands.forEach((c) => c.exitOverride());
  try {
    checkOptionValues(program, argv);
    await program.parseAsync(argv, { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help asked for (--help, `hwsim help`) and version exit 0; usage errors are bad input,
      // and so is a missing command (`hwsim`, `hwsim lut`): the usage went to stderr, exit 2
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help" && e.exitCode === 0) return 0; // `hwsim help`: asked for, on stdout
      return 2;
    }
    if (e instanceof InputError) {
      const hint = e instanceof ExistsError ? ` (use --force to ${e.remedy})` : "";
      io.err(`hwsim: ${e.message}${hint}\n`);
      return 2;
    }
    const err = e as Error;
    io.err(`hwsim: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.HWSIM_DEBUG) io.err(`${err?.stack}\n`);
    return 1;
  }
}
