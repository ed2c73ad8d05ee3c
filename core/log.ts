/**
 * Structured logs: one JSON object a line, which Workers Logs indexes. Never pass secrets;
 * tokens are referred to by id. LOG_LEVEL (debug | info | warn | error) sets the floor.
 */
type Fields = Record<string, unknown>;
type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let floor: number = RANK.info;

export function setLogLevel(level: string | undefined): void {
  if (level && level in RANK) floor = RANK[level as Level];
}

function emit(level: Level, msg: string, fields: Fields = {}): void {
  if (RANK[level] < floor) return;
  const line = JSON.stringify({ level, msg, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const log = {
  debug: (msg: string, fields?: Fields) => emit("debug", msg, fields),
  info: (msg: string, fields?: Fields) => emit("info", msg, fields),
  warn: (msg: string, fields?: Fields) => emit("warn", msg, fields),
  error: (msg: string, fields?: Fields) => emit("error", msg, fields),
};
