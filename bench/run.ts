/**
 * `npm run bench`: runs every benchmark in bench/ one after another (each starts its own
 * local Worker) and prints one table of every figure with its goal.
 */
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Figure } from "./lib.ts";

const DIR = resolve(import.meta.dirname);
const only = process.argv.slice(2);
const benches = readdirSync(DIR)
  .filter((f) => f.endsWith(".ts") && !["lib.ts", "run.ts", "signer.ts", "meter-event.ts", "cpu-profile.ts", "meter-config.ts", "dev-worker.ts", "fake-discord-process.ts", "cpu-split.ts"].includes(f))
  .filter((f) => !only.length || only.includes(f.replace(/\.ts$/, "")));

function runBench(file: string): Promise<{ figures: Figure[]; code: number | null }> {
  return new Promise((done) => {
    console.log(`\n=== bench/${file}`);
    const child = spawn(process.execPath, [join(DIR, file)], { stdio: ["ignore", "pipe", "inherit"] });
    const figures: Figure[] = [];
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith("BENCH_RESULT ")) figures.push(JSON.parse(line.slice(13)));
        else console.log(`  ${line}`);
      }
    });
    child.on("exit", (code) => done({ figures, code }));
  });
}

function verdict(f: Figure): string {
  const m = f.goal ? /^(≤|<=|≥|>=)\s*([\d.]+)/.exec(f.goal) : null;
  if (!m) return "";
  const limit = Number(m[2]);
  return (m[1] === "≤" || m[1] === "<=" ? f.value <= limit : f.value >= limit) ? "met" : "MISSED";
}

const all: Figure[] = [];
const failed: string[] = [];
for (const file of benches) {
  const { figures, code } = await runBench(file);
  all.push(...figures);
  if (code !== 0) failed.push(file);
}

const rows = all.map((f) => [f.bench, f.figure, `${f.value}${f.unit ? ` ${f.unit}` : ""}`, f.goal ?? "", verdict(f)]);
const head = ["bench", "figure", "value", "goal", ""];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
console.log(`\n${line(head)}\n|${widths.map((w) => "-".repeat(w + 2)).join("|")}|\n${rows.map(line).join("\n")}`);
if (failed.length) {
  console.log(`\nbenchmarks that exited with an error: ${failed.join(", ")}`);
  process.exitCode = 1;
}
