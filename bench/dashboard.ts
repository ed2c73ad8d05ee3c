/**
 * bench/dashboard: how fast the dashboard shows something useful, and what it ships.
 *   - JS bytes: the first load every page needs (entry + static chunks), gzipped, and all JS
 *     including the lazily loaded Usage page (uPlot).
 *   - First meaningful paint of Overview (its next-firings table) and Run (a finished run's
 *     200-event transcript and its "Finished" state), in headless chromium against
 *     `wrangler dev` (local workerd), signed in, each page load in a fresh tab: navigation
 *     start → the element is in the DOM (a MutationObserver installed before the page runs).
 *   - Baseline, measured side by side: the same tab loading the JSON those pages read
 *     (GET /api/dashboard/overview, GET /api/runs/:id), so the ratio is what the app adds.
 * BENCH_DASHBOARD_LOADS (default 20) loads of each. Prints figures only; nothing here asserts.
 */
import type { BrowserContext } from "playwright-core";
import { buildDashboard } from "../scripts/build-dashboard.ts";
import { DESKTOP, launchBrowser } from "../test/support/browser.ts";
import { startWorker } from "../test/support/worker.ts";
import { client, median, percentile, report, round } from "./lib.ts";

const LOADS = Number(process.env.BENCH_DASHBOARD_LOADS ?? 20);
const WARMUP = 3;
const RUN_EVENTS = 200;

const build = await buildDashboard();
const worker = await startWorker();
const browser = await launchBrowser();
try {
  const admin = client(worker.url, worker.adminToken);
  const { body: channel } = await admin("POST", "/api/channels", { dir_path: "/bench/dashboard", name: "bench" });
  for (let i = 0; i < 10; i++) {
    await admin("POST", "/api/tasks", { channel_id: channel.id, type: "interval", schedule: `${i + 1}h`, prompt: `seeded task ${i}` });
  }
  const runId = await finishedRun(channel.id);

  const context = await browser.newContext({ viewport: DESKTOP });
  const signIn = await context.newPage();
  await signIn.goto(`${worker.url}/`);
  await signIn.getByLabel("Token").fill(worker.adminToken);
  await signIn.getByRole("button", { name: "Sign in" }).click();
  await signIn.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await signIn.close();

  const overview = await paints(context, "/", `[aria-label="Next scheduled firings"] tbody tr`);
  const run = await paints(context, `/runs/${runId}`, `[data-testid="connection"].conn-finished`);
  const overviewJson = await jsonLoads(context, "/api/dashboard/overview");
  const runJson = await jsonLoads(context, `/api/runs/${runId}`);

  report([
    { bench: "dashboard", figure: "first-load JS (gzipped)", value: round(build.firstLoad.jsGzip / 1024), unit: "KiB", goal: "≤ 100" },
    { bench: "dashboard", figure: "first-load CSS (gzipped)", value: round(build.firstLoad.cssGzip / 1024), unit: "KiB" },
    { bench: "dashboard", figure: "all JS incl. Usage/uPlot (gzipped)", value: round(build.allJsGzip / 1024), unit: "KiB" },
    { bench: "dashboard", figure: "Overview first meaningful paint p50", value: round(median(overview)), unit: "ms" },
    { bench: "dashboard", figure: "Overview first meaningful paint p95", value: round(percentile(overview, 95)), unit: "ms", goal: "≤ 1000" },
    { bench: "dashboard", figure: `Run (${RUN_EVENTS} events) first meaningful paint p50`, value: round(median(run)), unit: "ms" },
    { bench: "dashboard", figure: `Run (${RUN_EVENTS} events) first meaningful paint p95`, value: round(percentile(run, 95)), unit: "ms", goal: "≤ 1000" },
    { bench: "dashboard", figure: "baseline: overview JSON load p50", value: round(median(overviewJson)), unit: "ms" },
    { bench: "dashboard", figure: "baseline: run JSON load p50", value: round(median(runJson)), unit: "ms" },
    { bench: "dashboard", figure: "Overview paint / its JSON (p50 ratio)", value: round(median(overview) / median(overviewJson), 2), unit: "×" },
    { bench: "dashboard", figure: "Run paint / its JSON (p50 ratio)", value: round(median(run) / median(runJson), 2), unit: "×" },
  ]);
} finally {
  await browser.close();
  await worker.stop();
}

/** Milliseconds from navigation start until `selector` is in the DOM, per fresh-tab load. */
async function paints(context: BrowserContext, path: string, selector: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + LOADS; i++) {
    const page = await context.newPage();
    // Installed before any of the page's scripts run; the DevTools protocol is not subject to its CSP.
    await page.addInitScript({
      content: `new MutationObserver(() => { if (window.__paint === undefined && document.querySelector(${JSON.stringify(selector)})) window.__paint = performance.now(); })
        .observe(document, { childList: true, subtree: true, attributes: true });`,
    });
    await page.goto(`${worker.url}${path}`);
    // A function, not a string: a string predicate is eval'd in the page, which its CSP refuses.
    await page.waitForFunction(() => (globalThis as { __paint?: number }).__paint !== undefined, undefined, { timeout: 30_000 });
    const t = Number(await page.evaluate("window.__paint"));
    if (i >= WARMUP) out.push(t);
    await page.close();
  }
  return out;
}

/** The baseline: the same tab loading only the JSON a page reads (navigation start → load). */
async function jsonLoads(context: BrowserContext, path: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < WARMUP + LOADS; i++) {
    const page = await context.newPage();
    await page.goto(`${worker.url}${path}`, { waitUntil: "load" });
    const t = Number(await page.evaluate(`performance.getEntriesByType("navigation")[0].loadEventEnd`));
    if (i >= WARMUP) out.push(t);
    await page.close();
  }
  return out;
}

/** A finished run with RUN_EVENTS events, driven through the runner protocol as a runner would. */
async function finishedRun(channelId: string): Promise<number> {
  const admin = client(worker.url, worker.adminToken);
  const { body: created } = await admin("POST", "/api/runners", { name: "bench-runner" });
  const runner = client(worker.url, created.token);
  const { body: run } = await admin("POST", "/api/runs", { channel_id: channelId, prompt: "bench run" });
  const { body: job } = await runner("POST", "/runner/v1/claim", { wait_ms: 5_000 });
  const events = Array.from({ length: RUN_EVENTS }, (_, i) => {
    const seq = job.first_seq + i;
    const data =
      i % 3 === 0
        ? { type: "text", text: `Step ${i}: reading the project and deciding what to do next.` }
        : i % 3 === 1
          ? { type: "tool_use", id: `t${i}`, name: "Bash", input: JSON.stringify({ command: `ls -la /srv/${i}` }) }
          : { type: "tool_result", tool_use_id: `t${i - 1}`, is_error: false, output: Array.from({ length: 30 }, (_, l) => `line ${l}`).join("\n") };
    return { seq, at: Date.now(), data };
  });
  for (let i = 0; i < events.length; i += 100) {
    await runner("POST", `/runner/v1/runs/${run.id}/events`, { lease_id: job.lease_id, events: events.slice(i, i + 100) });
  }
  await runner("POST", `/runner/v1/runs/${run.id}/complete`, {
    lease_id: job.lease_id,
    status: "succeeded",
    result_text: "done",
    usage: { input_tokens: 1000, output_tokens: 100 },
    cost_usd: 0.02,
    exit_code: 0,
    model: "claude-bench",
  });
  return run.id;
}
