// The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a
// real Worker (`wrangler dev`, serving the built dashboard as static assets), a real runner,
// the real Claude Code CLI in Docker and the fake Anthropic API:
//
//   sign in with a pasted token → run a task from its channel page and watch its output
//   arrive live, before the run ends → toggle a task and see it over REST → lose the live
//   stream and see it reconnect and resume without repeating events → a scoped token gets the
//   404 page for another channel, with none of its data → axe-core on every page, and
//   screenshots at desktop and phone width (test-artifacts/dashboard/) → sign-out revokes the
//   cookie.
//
// One browser and one Worker for the whole file. Needs Docker, root and /usr/bin/chromium.
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationText, hasToolResult, isMainTurn, lastUserText, type RecordedRequest } from "../fakes/anthropic.ts";
import { agentDir, docker, registerRunner, runnerConfig, setRules, setupEnv, startProxy, startTestRunner, waitFor, waitForRun, type Env, type Proxy, type TestRunner } from "../runner/helpers.ts";
import { DESKTOP, launchBrowser, PHONE, seriousA11yViolations } from "../support/browser.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const SHOTS = join(ROOT, "test-artifacts/dashboard");

let env: Env;
let runner: TestRunner;
let browser: Browser;
let admin: BrowserContext;
let page: Page;
let proxy: Proxy;
let own: { id: string; dir: string };
let other: { id: string; dir: string; name: string };
let scopedToken: string;
let taskId: number;
let runId: number;

const mainTurnWith = (marker: string) => (r: RecordedRequest) => isMainTurn(r) && !hasToolResult(r) && lastUserText(r).includes(marker);
const afterToolWith = (marker: string) => (r: RecordedRequest) => isMainTurn(r) && hasToolResult(r) && conversationText(r).includes(marker);

/** A run whose first words arrive, then a tool sleeps for `seconds`, then the answer comes. */
function slowRun(marker: string, seconds: number) {
  setRules(env, [
    {
      match: mainTurnWith(marker),
      times: 1,
      reply: { text: `Looking at ${marker} first.`, toolUses: [{ name: "Bash", input: { command: `sleep ${seconds} && echo slept-${marker}`, description: "wait" } }] },
    },
    { match: afterToolWith(marker), times: 1, reply: { text: `All done with ${marker}.`, usage: { input_tokens: 900, output_tokens: 40 } } },
  ]);
}

async function signIn(context: BrowserContext, token: string, base = env.worker.url): Promise<Page> {
  const p = await context.newPage();
  await p.goto(`${base}/`);
  await p.getByLabel("Token").fill(token);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  return p;
}

async function shoot(p: Page, name: string): Promise<void> {
  for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]] as const) {
    await p.setViewportSize(viewport);
    await p.screenshot({ path: join(SHOTS, `${name}-${size}.png`), fullPage: true });
  }
  await p.setViewportSize(DESKTOP);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  [env, browser] = await Promise.all([setupEnv({ vars: { LOG_LEVEL: "error" } }), launchBrowser()]);
  runner = await startTestRunner(runnerConfig(env, await registerRunner(env, "dashboard-runner")));
  own = { id: "", dir: agentDir(env, "dash-own") };
  own.id = (await env.api("POST", "/api/channels", { dir_path: own.dir, name: "dash-own" })).body.id;
  other = { id: "", dir: agentDir(env, "dash-secret-other"), name: "secret-other-channel" };
  other.id = (await env.api("POST", "/api/channels", { dir_path: other.dir, name: other.name })).body.id;
  await env.api("POST", "/api/tasks", { channel_id: other.id, type: "interval", schedule: "2h", prompt: "other channel's private prompt" });
  scopedToken = (await env.api("POST", "/api/tokens", { name: "dash scoped", scope: [own.id] })).body.token;
  proxy = await startProxy(env.worker.url);
  admin = await browser.newContext({ viewport: DESKTOP });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await runner?.stop().catch(() => {});
  await proxy?.close();
  for (const channelId of [own?.id, other?.id].filter(Boolean)) {
    const left = await docker.listContainers({ all: true, filters: { label: [`loop.channel=${channelId}`] } }).catch(() => []);
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await env?.close();
}, 60_000);

describe("the dashboard in a browser", () => {
  it("signs in with a pasted token: an HttpOnly SameSite=Strict cookie, and the token in no storage or URL", async () => {
    page = await signIn(admin, env.worker.adminToken);
    const cookies = await admin.cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: "loop_session", httpOnly: true, sameSite: "Strict", path: "/" })]);
    expect(cookies[0]!.value).not.toContain(env.worker.adminToken);
    expect(cookies[0]!.expires).toBeGreaterThan(Date.now() / 1000);
    const stored = String(await page.evaluate("JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie"));
    expect(stored).not.toContain(env.worker.adminToken);
    expect(page.url()).not.toContain(env.worker.adminToken);
    await page.getByText("Signed in: admin").waitFor();
    await page.getByRole("heading", { name: /Runners/ }).getByText("1 of 1 online").waitFor();
  });

  it("runs a task from its channel page and streams its output live, text before the run ends", async () => {
    const marker = `DASH-LIVE-${crypto.randomUUID().slice(0, 6)}`;
    slowRun(marker, 4);
    const task = await env.api("POST", "/api/tasks", { channel_id: own.id, type: "interval", schedule: "1h", prompt: `${marker}: look around.` });
    taskId = task.body.id;
    await page.goto(`${env.worker.url}/channels/${own.id}`);
    const item = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: new RegExp(`Task #${taskId}\\b`) }) });
    await item.getByRole("button", { name: "Run now" }).click();
    // The page either moves to the new run, or says why not beside the button.
    const refused = item
      .getByRole("alert")
      .waitFor({ timeout: 90_000 })
      .then(
        async () => `Run now was refused: ${await item.getByRole("alert").textContent()}`,
        () => new Promise<never>(() => {}), // no alert: the race is the navigation's
      );
    const moved = page.waitForURL(/\/runs\/\d+$/, { timeout: 90_000 }).then(() => null);
    const outcome = await Promise.race([moved, refused]);
    expect(outcome).toBeNull();
    runId = Number(page.url().split("/").pop());

    await page.getByText(`Looking at ${marker} first.`).waitFor({ timeout: 90_000 });
    // The first words are on the page while the tool is still sleeping: the run has not ended.
    expect((await env.api("GET", `/api/runs/${runId}`)).body.status).toBe("running");
    await expect(page.getByTestId("connection").textContent()).resolves.toBe("Live");

    await page.getByText(`All done with ${marker}.`).first().waitFor({ timeout: 60_000 });
    await page.getByTestId("connection").getByText("Finished").waitFor();
    const run = await waitForRun(env, runId);
    expect(run).toMatchObject({ status: "succeeded", task_id: taskId, trigger: "api" });
    const tool = page.locator(".t-tool").filter({ hasText: "Bash" });
    await expect(tool.textContent()).resolves.toContain(`slept-${marker}`);
    const footer = await page.getByRole("definition").allTextContents();
    expect(footer.join(" ")).toContain(run.model);
    expect(await page.getByRole("button", { name: "Stop" }).count()).toBe(0);
  }, 240_000);

  it("toggles a task on its channel page, and REST sees the change, even before the session check has answered", async () => {
    // The page shows before GET /api/session answers; a write made meanwhile must wait for
    // the CSRF token, not go out without it (403). Hold that answer back to make it so.
    await page.route("**/api/session", async (r) => {
      await new Promise((done) => setTimeout(done, 1_500));
      await r.continue();
    });
    await page.goto(`${env.worker.url}/channels/${own.id}`);
    const item = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: new RegExp(`Task #${taskId}\\b`) }) });
    const patched = () => page.waitForResponse((r) => r.url().endsWith(`/api/tasks/${taskId}`) && r.request().method() === "PATCH");
    let saved = patched();
    await item.getByRole("checkbox", { name: "Enabled" }).uncheck();
    expect((await saved).status()).toBe(200);
    await item.getByRole("checkbox", { name: "Disabled" }).waitFor();
    expect((await env.api("GET", `/api/tasks/${taskId}`)).body).toMatchObject({ enabled: false, next_run_at: null });
    await page.unroute("**/api/session");
    saved = patched();
    await item.getByRole("checkbox", { name: "Disabled" }).check();
    expect((await saved).status()).toBe(200);
    expect((await env.api("GET", `/api/tasks/${taskId}`)).body).toMatchObject({ enabled: true });
  });

  it("a lost live stream says it is reconnecting, then resumes where it left off", async () => {
    // Through a proxy that can cut the connection (same host, so the same cookie).
    const viaProxy = await admin.newPage();
    const marker = `DASH-RECONNECT-${crypto.randomUUID().slice(0, 6)}`;
    slowRun(marker, 6);
    const run = (await env.api("POST", "/api/runs", { channel_id: own.id, prompt: `${marker}: wait a while.` })).body;
    await viaProxy.goto(`${proxy.url}/runs/${run.id}`);
    await viaProxy.getByText(`Looking at ${marker} first.`).waitFor({ timeout: 90_000 });
    proxy.pause();
    await viaProxy.getByTestId("connection").getByText(/reconnecting/).waitFor();
    proxy.resume();
    await viaProxy.getByText(`All done with ${marker}.`).first().waitFor({ timeout: 60_000 });
    await viaProxy.getByTestId("connection").getByText("Finished").waitFor();
    // Every event once: the resumed stream started after the last one the page had.
    await expect(viaProxy.getByText(`Looking at ${marker} first.`).count()).resolves.toBe(1);
    await expect(viaProxy.locator(".t-tool").count()).resolves.toBe(1);
    await viaProxy.close();
  }, 240_000);

  it("a run waiting for approval shows the held call on its page; Approve resumes it and the command runs", async () => {
    const marker = `DASH-APPROVE-${crypto.randomUUID().slice(0, 6)}`;
    const file = `approved-${marker}`;
    setRules(env, [
      { match: mainTurnWith(marker), times: 1, reply: { text: `I need to write ${file}.`, toolUses: [{ name: "Bash", input: { command: `touch ${file}`, description: "write the marker file" } }] } },
      { match: afterToolWith(marker), times: 1, reply: { text: `Wrote ${file}.` } },
    ]);
    await env.api("PUT", `/api/channels/${own.id}/policy`, { mode: "ask" });
    try {
      const run = (await env.api("POST", "/api/runs", { channel_id: own.id, prompt: `${marker}: write the file.` })).body;
      await waitFor("the run to wait for approval", async () => (await env.api("GET", `/api/runs/${run.id}`)).body.status === "waiting_approval", 120_000);

      await page.goto(`${env.worker.url}/runs/${run.id}`);
      const panel = page.getByRole("region", { name: "Waiting for approval" });
      await panel.waitFor();
      await expect(panel.textContent()).resolves.toContain("Bash");
      await expect(panel.getByLabel("Tool input").textContent()).resolves.toContain(`touch ${file}`);
      expect(existsSync(join(own.dir, file))).toBe(false);
      await shoot(page, "run-approval");
      expect(await seriousA11yViolations(page)).toEqual([]);

      await panel.getByRole("button", { name: "Approve" }).click();
      await page.getByText(`Wrote ${file}.`).first().waitFor({ timeout: 120_000 });
      const done = await waitForRun(env, run.id);
      expect(done.status).toBe("succeeded");
      expect(existsSync(join(own.dir, file))).toBe(true);
      expect(await panel.count()).toBe(0);
      // The decision is on the record, by the dashboard's session.
      const events = (await env.api("GET", `/api/runs/${run.id}`)).body.events as { type: string; data: unknown }[];
      expect(JSON.stringify(events)).toMatch(/approve/i);
    } finally {
      await env.api("PUT", `/api/channels/${own.id}/policy`, { mode: "auto" });
    }
  }, 300_000);

  it("a channel-scoped token gets the 404 page for another channel, with none of its data", async () => {
    const scoped = await browser.newContext({ viewport: DESKTOP });
    const p = await signIn(scoped, scopedToken);
    const bodies: string[] = [];
    p.on("response", (r) => {
      if (r.url().includes("/api/")) void r.text().then((t) => bodies.push(t), () => {});
    });
    await p.goto(`${env.worker.url}/channels/${other.id}`);
    await p.getByRole("heading", { name: "Not found", level: 1 }).waitFor();
    const html = await p.content();
    for (const secret of [other.name, other.dir, "other channel's private prompt"]) {
      expect(html).not.toContain(secret);
      expect(bodies.join("\n")).not.toContain(secret);
    }
    // The lists show only its own channel.
    await p.goto(`${env.worker.url}/channels`);
    await p.getByRole("link", { name: "dash-own" }).waitFor();
    expect(await p.content()).not.toContain(other.name);
    await scoped.close();
  });

  it("every page passes axe-core with no serious violations (screenshots at desktop and phone width saved)", async () => {
    // A loop of one iteration (issue 17), so its page has something to show.
    const loop = (await env.api("POST", "/api/loops", { channel_id: own.id, prompt: "One pass over the project.", max_iterations: 1 })).body;
    await waitFor("the loop to end", async () => (await env.api("GET", `/api/loops/${loop.id}`)).body.status !== "running", 90_000);
    const pages: [string, string, RegExp][] = [
      ["overview", "/", /Overview/],
      ["channels", "/channels", /Channels/],
      ["channel", `/channels/${own.id}`, /dash-own/],
      ["runs", "/runs", /Runs/],
      ["run", `/runs/${runId}`, new RegExp(`Run #${runId}`)],
      ["loop", `/loops/${loop.id}`, new RegExp(`Loop #${loop.id}`)],
      ["usage", "/usage", /Usage/],
      ["not-found", "/runs/999999", /Not found/],
    ];
    const found: Record<string, unknown> = {};
    for (const [name, path, heading] of pages) {
      await page.goto(`${env.worker.url}${path}`);
      await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
      await page.getByText("Loading…").waitFor({ state: "detached" });
      if (name === "usage") await page.locator(".uplot").first().waitFor();
      await shoot(page, name);
      const v = await seriousA11yViolations(page);
      if (v.length) found[name] = v;
    }
    const signedOut = await browser.newContext({ viewport: DESKTOP });
    const signInPage = await signedOut.newPage();
    await signInPage.goto(`${env.worker.url}/`);
    await signInPage.getByLabel("Token").waitFor();
    await shoot(signInPage, "sign-in");
    const v = await seriousA11yViolations(signInPage);
    if (v.length) found["sign-in"] = v;
    await signedOut.close();
    expect(found).toEqual({});
  }, 300_000);

  it("sign-out revokes the session: the old cookie no longer works anywhere", async () => {
    const [cookie] = await admin.cookies();
    const header = `loop_session=${cookie!.value}`;
    expect((await fetch(`${env.worker.url}/api/channels`, { headers: { cookie: header } })).status).toBe(200);
    await page.goto(`${env.worker.url}/`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("Token").waitFor();
    expect(await admin.cookies()).toEqual([]);
    const res = await fetch(`${env.worker.url}/api/channels`, { headers: { cookie: header } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("session_ended");
    // A page opened afterwards asks to sign in.
    await page.goto(`${env.worker.url}/runs`);
    await page.getByLabel("Token").waitFor();
  });
});
