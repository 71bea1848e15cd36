/**
 * What a command needs from the outside world. Tests pass their own to capture
 * output; the binary uses the process streams.
 */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal (progress bars are drawn only then) */
  isTTY: boolean;
}

export interface CliContext {
  io: CliIO;
  /** exit code the command asks for (0 unless set; 1 = the check failed) */
  exitCode: number;
}

export const processIO: CliIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  isTTY: Boolean(process.stderr.isTTY),
};
