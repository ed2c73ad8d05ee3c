/**
 * The prompt of a loop iteration, built from its parts in one documented layout
 * (docs/loops.md, "What the agent sees"). Pure: the caller reads memory, the latest
 * monitor output and the previous answer, and passes them in.
 *
 * The loop's system_prompt is not part of this text: it goes to claude as
 * --append-system-prompt, so it sits in the model's system prompt, ahead of all of this.
 * Sections with nothing in them are left out. Long monitor output and long answers keep
 * their end (the newest log lines, an answer's conclusion) and say how much was cut.
 */

/** The monitor output an iteration sees: its last this-many characters. */
export const MONITOR_PROMPT_CHARS = 8_000;
/** The previous iteration's answer as the next one sees it: its last this-many characters. */
export const PREVIOUS_ANSWER_CHARS = 4_000;

export interface IterationParts {
  iteration: number;
  /** 0: until stopped. */
  maxIterations: number;
  untilText: string | null;
  prompt: string;
  persistentMemory: string;
  workingMemory: string;
  monitor: { command: string; output: string; exitCode: number | null; at: number } | null;
  previous: { iteration: number; answer: string } | null;
}

/** The last `max` characters of `text`, saying how many were cut before them. */
export function keepTail(text: string, max: number): string {
  if (text.length <= max) return text;
  return `[… ${text.length - max} earlier characters cut]\n${text.slice(text.length - max)}`;
}

/** Attribute values stay on one line and inside their quotes: " becomes ', newlines spaces. */
const attr = (value: string): string => value.replace(/"/g, "'").replace(/\s*\n\s*/g, " ");

function section(tag: string, attrs: Record<string, string | number>, body: string): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${attr(String(v))}"`)
    .join("");
  return `<${tag}${a}>\n${body.replace(/\n+$/, "")}\n</${tag}>`;
}

export function iterationPrompt(p: IterationParts): string {
  const limit = p.maxIterations > 0 ? ` of at most ${p.maxIterations}` : "";
  const until = p.untilText ? ` The loop also ends when your answer contains "${p.untilText}".` : "";
  const parts = [
    section(
      "loop",
      { iteration: p.iteration, max_iterations: p.maxIterations },
      `This is iteration ${p.iteration}${limit} of a loop that gives you the prompt at the end again and again. ` +
        `When the work is finished, call the loop_done tool with a short summary and the loop stops.${until} ` +
        `Keep notes with memory_set and memory_append: persistent memory stays across iterations and loops, working memory is cleared when this iteration ends.`,
    ),
  ];
  if (p.persistentMemory.trim()) parts.push(section("persistent_memory", {}, p.persistentMemory));
  if (p.workingMemory.trim()) parts.push(section("working_memory", {}, p.workingMemory));
  if (p.monitor) {
    const exit = p.monitor.exitCode === null ? "none (did not exit in time)" : p.monitor.exitCode;
    const output = p.monitor.output.trim() ? keepTail(p.monitor.output, MONITOR_PROMPT_CHARS) : "(no output)";
    parts.push(section("monitor_output", { command: p.monitor.command, exit_code: exit, at: new Date(p.monitor.at).toISOString() }, output));
  }
  if (p.previous) parts.push(section("previous_answer", { iteration: p.previous.iteration }, keepTail(p.previous.answer, PREVIOUS_ANSWER_CHARS) || "(empty)"));
  parts.push(p.prompt);
  return parts.join("\n\n");
}
