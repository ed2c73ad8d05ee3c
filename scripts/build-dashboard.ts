/**
 * Builds the dashboard (dashboard/, Preact) into dist/dashboard, which wrangler serves as the
 * Worker's static assets ([assets] in wrangler.toml). Everything is bundled from npm: no CDN.
 * Scripts and styles get content-hashed names; index.html names the entry files.
 *
 * Run by `npm test`, `npm install` (prepare), wrangler's [build] (so `wrangler dev` and
 * `wrangler deploy` build it) and `npm run dev`. Several wrangler devs may start at once in
 * the tests: a file is written only when its bytes change, so identical builds write nothing.
 */
import { build, type BuildResult, type OutputFile } from "esbuild";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const ROOT = resolve(import.meta.dirname, "..");
export const DASHBOARD_OUT = join(ROOT, "dist/dashboard");
const ASSETS = join(DASHBOARD_OUT, "assets");

/**
 * Security headers for every asset (Workers static assets read _headers). The pages load
 * only their own scripts and styles; uPlot and Preact set styles through the CSSOM, which
 * style-src does not govern.
 */
const HEADERS = `/*
  Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'
  X-Content-Type-Options: nosniff
  Referrer-Policy: same-origin
/assets/*
  Cache-Control: public, max-age=31536000, immutable
`;

export interface DashboardBuild {
  /** The entry script and stylesheet every page loads, in bytes and gzipped bytes. */
  firstLoad: { js: number; jsGzip: number; css: number; cssGzip: number };
  /** Every script, including the ones loaded on demand (the Usage page and uPlot). */
  allJsGzip: number;
  files: string[];
}

function writeIfChanged(path: string, bytes: Uint8Array | string): void {
  const data = typeof bytes === "string" ? Buffer.from(bytes) : Buffer.from(bytes);
  if (existsSync(path) && readFileSync(path).equals(data)) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

export async function buildDashboard(): Promise<DashboardBuild> {
  const result: BuildResult<{ write: false; metafile: true }> = await build({
    entryPoints: { main: join(ROOT, "dashboard/main.tsx") },
    outdir: ASSETS,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: ["chrome115", "firefox115", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    minify: true,
    entryNames: "[name]-[hash]",
    chunkNames: "[name]-[hash]",
    assetNames: "[name]-[hash]",
    write: false,
    metafile: true,
    logLevel: "warning",
    legalComments: "none",
  });
  const outputs = result.outputFiles as OutputFile[];
  const entryJs = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint?.endsWith("dashboard/main.tsx"))!;
  const jsPath = join(ROOT, entryJs[0]);
  const cssPath = entryJs[1].cssBundle ? join(ROOT, entryJs[1].cssBundle) : null;
  const url = (abs: string) => `/${relative(DASHBOARD_OUT, abs)}`;
  // Every page loads the entry and the chunks it imports statically; the rest (Usage, uPlot) on demand.
  const firstLoadJs: string[] = [];
  const visit = (out: string) => {
    if (firstLoadJs.includes(out)) return;
    firstLoadJs.push(out);
    for (const imp of result.metafile.outputs[out]!.imports) if (imp.kind === "import-statement") visit(imp.path);
  };
  visit(entryJs[0]);
  const preloads = firstLoadJs.slice(1).map((p) => `<link rel="modulepreload" href="${url(join(ROOT, p))}" />`);

  const template = readFileSync(join(ROOT, "dashboard/index.html"), "utf8");
  const html = template
    .replace("<!--styles-->", [cssPath ? `<link rel="stylesheet" href="${url(cssPath)}" />` : "", ...preloads].join("\n    "))
    .replace("<!--scripts-->", `<script type="module" src="${url(jsPath)}"></script>`);

  for (const f of outputs) writeIfChanged(f.path, f.contents);
  writeIfChanged(join(DASHBOARD_OUT, "index.html"), html);
  writeIfChanged(join(DASHBOARD_OUT, "_headers"), HEADERS);
  // Drop assets of earlier builds (hashed names), keeping the ones just written.
  const keep = new Set(outputs.map((f) => f.path));
  for (const name of existsSync(ASSETS) ? readdirSync(ASSETS) : []) {
    if (!keep.has(join(ASSETS, name))) rmSync(join(ASSETS, name), { force: true });
  }

  const bytesOf = (path: string | null) => outputs.find((f) => f.path === path)?.contents ?? new Uint8Array();
  const js = firstLoadJs.map((p) => bytesOf(join(ROOT, p)));
  const css = bytesOf(cssPath);
  return {
    firstLoad: {
      js: js.reduce((n, b) => n + b.length, 0),
      jsGzip: js.reduce((n, b) => n + gzipSync(b).length, 0),
      css: css.length,
      cssGzip: gzipSync(css).length,
    },
    allJsGzip: outputs.filter((f) => f.path.endsWith(".js")).reduce((n, f) => n + gzipSync(f.contents).length, 0),
    files: outputs.map((f) => relative(ROOT, f.path)),
  };
}

if (import.meta.main) {
  const { firstLoad } = await buildDashboard();
  console.log(
    `built dist/dashboard (first load: ${(firstLoad.jsGzip / 1024).toFixed(1)} KiB JS, ${(firstLoad.cssGzip / 1024).toFixed(1)} KiB CSS, gzipped)`,
  );
}
