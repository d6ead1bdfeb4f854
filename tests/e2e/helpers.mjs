// Shared pieces of the end-to-end tests: the real vod-ugc-server, Debian's
// Chromium driven by playwright-core, generated files, screenshots.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SERVER_BIN = process.env.VOD_UGC_SERVER || path.join(ROOT, "target/release/vod-ugc-server");
export const OUT_DIR = path.join(ROOT, "out");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export const SECRET_ID = "e2e";
export const SECRET_KEY = "e2e-secret-key";

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export function checkPrerequisites() {
  const missing = [];
  if (!existsSync(SERVER_BIN)) missing.push(`${SERVER_BIN} (run: npm run build)`);
  if (!existsSync(path.join(ROOT, "pkg/vod_ugc_upload.js"))) missing.push("pkg/vod_ugc_upload.js (run: npm run build)");
  if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (run: npm run setup)`);
  if (missing.length) throw new Error(`missing: ${missing.join(", ")}`);
}

/**
 * Starts the real server on `listen` (default: a free port on 127.0.0.1)
 * with the demo (or the folder `www`), the package and the dev signer; resolves once it printed
 * "vod-ugc-server listening on http://ADDR".
 */
export async function startServer({ dataDir, storage, env = {}, listen = "127.0.0.1:0", extraArgs = [], www = path.join(ROOT, "www") }) {
  const args = [
    "--listen", listen,
    // A bucket (`storage`: s3://BUCKET/PREFIX, endpoint and keys in `env`) or a data folder.
    ...(storage ? ["--storage", storage] : ["--data", dataDir]),
    "--www", www,
    "--pkg", path.join(ROOT, "pkg"),
    "--dev-signer",
    "--secret-id", SECRET_ID,
    "--secret-key", SECRET_KEY,
    ...extraArgs,
  ];
  const proc = spawn(SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn", ...env } });
  let stdout = "";
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => { stderr = (stderr + d).slice(-20_000); });
  proc.stdout.setEncoding("utf8");

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`server did not print its address within ${STARTUP_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, STARTUP_TIMEOUT_MS);
    proc.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/vod-ugc-server listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });

  const exited = once(proc, "exit");
  return {
    url,
    /** host:port, for restarting on the same address */
    address: new URL(url).host,
    proc,
    stderr: () => stderr,
    /** SIGTERM (or the given signal), SIGKILL after a bounded wait. */
    async stop(signal = "SIGTERM") {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The bare page of tests/e2e/page (a file input and `window.ugc`), for `startServer({ www })`. */
export const API_PAGE = path.join(ROOT, "tests/e2e/page");

/** Opens the demo and waits until the wasm module is loaded. */
export async function openDemo(browser, baseUrl, { viewport = { width: 1000, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(baseUrl + "/", { timeout: 15_000 });
  await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
  return { context, page, problems };
}

export async function makeTempDir(prefix) {
  return mkdtemp(path.join(tmpdir(), `vod-ugc-e2e-${prefix}-`));
}

/** A file of random bytes; returns its path and SHA-1. */
export async function makeRandomFile(dir, name, size) {
  const bytes = randomBytes(size);
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return { path: file, size, sha1: sha1(bytes) };
}

export function sha1(bytes) {
  return createHash("sha1").update(bytes).digest("hex");
}

export async function fetchBytes(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export async function screenshot(page, name) {
  await mkdir(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `e2e-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function removeDir(dir) {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** True for a part upload request of the UGC protocol. */
export function isPartUpload(url) {
  const u = typeof url === "string" ? new URL(url) : url;
  return u.pathname.endsWith("/v2/index.php") && u.searchParams.get("Action") === "UploadPartUGC";
}

/**
 * Lets the first `passCount` part uploads through and holds every later one
 * (in flight, unanswered) until release() or failHeld(). Resolves `holding`
 * when the first part is held and `passedDone` when the passed parts have
 * all been answered.
 */
export async function holdPartsAfter(page, passCount) {
  const held = [];
  let seen = 0;
  let answered = 0;
  let resolveHolding;
  let resolvePassed;
  const holding = new Promise((r) => { resolveHolding = r; });
  const passedDone = new Promise((r) => { resolvePassed = r; });
  const onFinished = (req) => {
    if (isPartUpload(req.url()) && req.method() === "POST") {
      answered++;
      if (answered >= passCount) resolvePassed();
    }
  };
  page.on("requestfinished", onFinished);
  const handler = async (route) => {
    seen++;
    if (seen <= passCount) {
      await route.continue();
      return;
    }
    held.push(route);
    resolveHolding();
  };
  const matcher = (url) => isPartUpload(url);
  await page.route(matcher, handler);
  return {
    holding,
    passedDone,
    answered: () => answered,
    /** Stops holding; held requests continue to the server. */
    async release() {
      await page.unroute(matcher, handler).catch(() => {});
      page.off("requestfinished", onFinished);
      for (const route of held.splice(0)) await route.continue().catch(() => {});
    },
  };
}

/** What a readable error must not look like. */
export function unreadableReasons(text) {
  const reasons = [];
  if (text.includes("[object Object]")) reasons.push('contains "[object Object]"');
  if (/\n\s*at\s+\S+/.test(text) || /\bat\s+\S+\.(m?js|wasm):\d+/.test(text)) reasons.push("contains a stack trace");
  if (/^\s*(undefined|null)?\s*$/.test(text)) reasons.push("is empty");
  if (/\bundefined\b/.test(text)) reasons.push('contains "undefined"');
  return reasons;
}
