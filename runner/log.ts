/**
 * The runner's logging: one JSON object per line for machines (stdout), plus a few
 * human-readable lines (stderr) for the person watching `loop runner` in a terminal.
 * Field names that look like secrets are redacted, so a careless call cannot leak a token.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** One line for people: job start/end, what the runner is waiting for. */
  human(line: string): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /token|secret|password|authorization|api_?key|credential/i;

export function redact(fields: LogFields): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) out[k] = SECRET_FIELD.test(k) && v != null ? "[redacted]" : v;
  return out;
}

interface Sink {
  write(chunk: string): unknown;
}

export function createLogger(opts: { level?: LogLevel; json?: Sink; human?: Sink } = {}): Logger {
  const min = ORDER[opts.level ?? "info"];
  const json = opts.json ?? process.stdout;
  const human = opts.human ?? process.stderr;
  const emit = (level: LogLevel) =>
    function log(msg: string, fields: LogFields = {}) {
      if (ORDER[level] < min) return;
      json.write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...redact(fields) })}\n`);
    };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    human(line) {
      human.write(`${new Date().toTimeString().slice(0, 8)} ${line}\n`);
    },
  };
}

export interface CapturedLine {
  level: LogLevel | "human";
  msg: string;
  fields: LogFields;
}

/** A logger that keeps everything in memory (tests), optionally echoing to another. */
export function memoryLogger(echo?: Logger): Logger & { lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const at = (level: LogLevel) =>
    function log(msg: string, fields: LogFields = {}) {
      lines.push({ level, msg, fields: redact(fields) });
      echo?.[level](msg, fields);
    };
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    human(line) {
      lines.push({ level: "human", msg: line, fields: {} });
      echo?.human(line);
    },
  };
}

/** Errors as log fields: the message, never a stack full of request bodies. */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
