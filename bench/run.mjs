#!/usr/bin/env node
// The benchmark of vod-ugc-upload: `npm run bench` (bench/bench.sh builds
// what is missing, then runs this). It starts vod-ugc-server on loopback,
// serves bench/page/ with the peers next to it, drives headless Chromium
// (playwright-core, /usr/bin/chromium) and prints ONE table: every timed
// figure is the median of --runs runs (3 by default) after a warm-up, peers
// measured in the same run on the same bytes, and each section's time.
// `--write` also records the table, the machine, the targets and the times
// in BENCHMARKS.md. A full run is planned to take at most 15 minutes on a
// 2-core machine. See BENCHMARKS.md for how to read it.

import { execFileSync, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { once } from "node:events";
import { closeSync, existsSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { diskShare, engineRows, pooledOfRun, IN_A_ROW, measureEngine, pairOrder, RATIO_PASSES, passesLine } from "./engines.mjs";
import { measureServer, serverRows } from "./server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MiB = 1 << 20;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SERVER_BIN = process.env.VOD_UGC_SERVER || path.join(ROOT, "target/release/vod-ugc-server");
// The server section's load generator (bench/load).
const LOAD_BIN = process.env.VOD_UGC_LOAD || path.join(ROOT, "target/release/vod-ugc-load");
const PKG = path.join(ROOT, "pkg");
// Timed runs per figure by default, and the fewest a time budget leaves: the
// medians the targets are judged on, and issue 13's "three runs in a row".
const DEFAULT_RUNS = IN_A_ROW;
// The most a full run with the defaults should take on a 2-core machine (issue 13).
const PLAN_MS = 15 * 60_000;
// Time budgets of the slow sections' timed runs beyond the first
// DEFAULT_RUNS (with --runs 5, a slow machine would otherwise take an hour):
// see runsWithin. A full run with the defaults spends about 10 minutes on a
// quiet 2-core machine, 15.5 measured at load 7 to 12 (see BENCHMARKS.md).
const UPLOAD_BUDGET_MS = 120_000;
const ENGINE_UPLOAD_BUDGET_MS = 60_000; // per engine, Firefox and WebKit (the engines section)
const MEMORY_BUDGET_MS = { small: 60_000, big: 120_000 };
// The throttled uplink: issue 9's row, 16 MiB at 1 MiB/s (about 17 s per
// upload, ours and the baseline each run).
const THROTTLED = { mib: 16, bytesPerSecond: MiB, budgetMs: 120_000 };
const RESUME_BUDGET_MS = 120_000;
const RESUME_ABORT_AT = 0.4; // the first upload of a resume run stops at 40 %
const TENCENT_SDK_GZIP = 56_700; // bytes: Tencent's current web SDK bundle, gzip (issue 5)
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Lets the page call gc() before each timed run (less noise from the
  // previous run's garbage). Changes nothing else.
  "--js-flags=--expose-gc",
];
const PEERS = [
  ["node_modules/hash-wasm/dist/sha1.umd.min.js", "hash-wasm-sha1.umd.min.js"],
  ["node_modules/hash-wasm/dist/md5.umd.min.js", "hash-wasm-md5.umd.min.js"],
  ["node_modules/js-sha1/build/sha1.min.js", "js-sha1.min.js"],
];

// --- options --------------------------------------------------------------------

const ENGINE_NAMES = ["chromium", "firefox", "webkit"];

const HELP = `npm run bench [-- options]

  --write          also write the results to BENCHMARKS.md (between its markers)
  --runs N         timed runs per figure, after one warm-up (default ${DEFAULT_RUNS}, at least 1)
  --mib N          size of the hashing and upload data in MiB (default 256)
  --big-mib N      size of the large memory run in MiB (default 1024)
  --only LIST      comma-separated sections: size,hash,upload,throttled,memory,server,resume,engines (default all)
  --engines LIST   engines of the engines section: chromium,firefox,webkit (default all)
  --help           this text

Anything but the defaults is for trying the bench out: --write refuses it.`;

const SECTIONS = ["size", "hash", "upload", "throttled", "memory", "server", "resume", "engines"];

function parseArgs(argv) {
  const opts = { write: false, runs: DEFAULT_RUNS, mib: 256, bigMib: 1024, only: [...SECTIONS], engines: [...ENGINE_NAMES] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = (v, min) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`${a}: ${v} is not an integer ≥ ${min}`);
      return n;
    };
    if (a === "--help" || a === "-h") opts.help = true;
    else if (a === "--write") opts.write = true;
    else if (a === "--runs") opts.runs = int(value(), 1);
    else if (a === "--mib") opts.mib = int(value(), 2);
    else if (a === "--big-mib") opts.bigMib = int(value(), 2);
    else if (a === "--only") {
      opts.only = value().split(",").map((s) => s.trim()).filter(Boolean);
      for (const s of opts.only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s}`);
    } else if (a === "--engines") {
      opts.engines = value().split(",").map((s) => s.trim()).filter(Boolean);
      for (const s of opts.engines) if (!ENGINE_NAMES.includes(s)) throw new Error(`--engines: unknown engine ${s}`);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  opts.defaults = opts.runs >= DEFAULT_RUNS && opts.mib === 256 && opts.bigMib === 1024 && opts.only.length === SECTIONS.length &&
    opts.engines.length === ENGINE_NAMES.length;
  return opts;
}

// --- small helpers ----------------------------------------------------------------

const T0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - T0) / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
};
const log = (...m) => process.stderr.write(`bench [${clock()}]: ${m.join(" ")}\n`);
const median = (xs) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, digits = 0) => (x === null || x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits));
const fmtInt = (n) => n.toLocaleString("en-US");
const mibps = (bytes, ms) => (ms > 0 ? bytes / MiB / (ms / 1000) : null);
const seconds = (ms) => `${fmt(ms / 1000, 2)} s`;
const mib = (bytes) => `${fmt(bytes / MiB, 1)} MiB`;
const kb = (bytes) => `${fmt(bytes / 1000, 1)} KB`;
const ratio = (x) => `${fmt(x, 2)} ×`;
const pct = (x) => `${fmt(x * 100, 0)} %`;
const verdict = (ok) => (ok === null ? "not measured" : ok ? "**met**" : "**missed**");
const outcome = (ok) => (ok === null ? "n/a" : ok ? "met" : "MISSED");
const range = (xs, f) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x));
  return s.length > 1 ? ` (${f(Math.min(...s))}–${f(Math.max(...s))})` : "";
};

/** SHA-1 of a file, read in 16 MiB chunks (the expected digest of every hasher). */
function sha1File(file) {
  const h = createHash("sha1");
  const fd = openSync(file, "r");
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** A file of `size` random bytes, written in 16 MiB chunks. */
function writeRandomFile(file, size) {
  const fd = openSync(file, "w");
  const buf = Buffer.allocUnsafe(16 * MiB);
  try {
    for (let done = 0; done < size; ) {
      const n = Math.min(buf.length, size - done);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** New random first 16 bytes: a new file for the server (no instant upload). */
function refreshHead(file) {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, randomFillSync(Buffer.alloc(16)), 0, 16, 0);
  } finally {
    closeSync(fd);
  }
}

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = (cpuinfo.match(/^model name\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0]?.model || "unknown";
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim()) || nproc;
  } catch {}
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src", "server", "Cargo.toml", "Cargo.lock"], { cwd: ROOT, encoding: "utf8" }).trim();
    if (dirty) commit += " (with uncommitted changes in src/ or server/)";
  } catch {}
  return { model, nproc, memGiB: os.totalmem() / 2 ** 30, node: process.version, commit };
}

// --- the server ------------------------------------------------------------------------

async function startServer({ dataDir, wwwDir }) {
  const proc = spawn(
    SERVER_BIN,
    ["--listen", "127.0.0.1:0", "--data", dataDir, "--www", wwwDir, "--pkg", PKG, "--dev-signer",
      "--secret-id", "bench", "--secret-key", "bench-secret-key"],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } },
  );
  let stdout = "";
  let stderr = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (d) => { stderr = (stderr + d).slice(-10_000); });
  proc.stdout.setEncoding("utf8");
  const exited = once(proc, "exit");
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 20 s\n${stderr}`)), 20_000);
    proc.stdout.on("data", (d) => {
      stdout += d;
      const m = stdout.match(/vod-ugc-server listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
    proc.once("error", (e) => { clearTimeout(timer); reject(e); });
    proc.once("exit", (code, signal) => { clearTimeout(timer); reject(new Error(`the server exited (${code ?? signal})\n${stderr}`)); });
  });
  return {
    url,
    pid: proc.pid,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// --- the browser ------------------------------------------------------------------------

async function openPage(browser, baseUrl, filePath) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  await page.goto(`${baseUrl}/index.html`, { timeout: 30_000 });
  try {
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000, state: "attached" });
  } catch (e) {
    throw new Error(`the bench page did not load: ${problems.join("; ") || e.message}`);
  }
  if (filePath) {
    await page.setInputFiles("#file", filePath);
    await page.evaluate(() => bench.takeFile());
  }
  return { context, page, problems };
}

/** RSS in bytes of a process (Linux /proc), or null. */
function rssOf(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Renderer processes: pid -> CPU seconds so far (CDP SystemInfo), {} if unknown. */
async function renderers(browserCdp) {
  try {
    const { processInfo } = await browserCdp.send("SystemInfo.getProcessInfo");
    return Object.fromEntries(processInfo.filter((p) => p.type === "renderer").map((p) => [p.id, p.cpuTime]));
  } catch {
    return {};
  }
}

// --- sections -------------------------------------------------------------------------------

function measureSize() {
  // The JS a page loads: the entry and the modules it imports (the
  // loader, the codes, wasm-bindgen's glue, the snippets the glue imports,
  // e.g. the hash cache's IndexedDB code, and any they import in turn),
  // gzipped together. Not
  // the inline copy of the .wasm, fetched only where the .wasm is not found.
  const snippets = [];
  const follow = (file) => {
    const text = readFileSync(path.join(PKG, file), "utf8");
    for (const [, relative] of text.matchAll(/from\s*["'](\.\.?\/[^"']+\.js)["']/g)) {
      const found = path.posix.join(path.posix.dirname(file), relative);
      if (found.startsWith("snippets/") && !snippets.includes(found)) {
        snippets.push(found);
        follow(found);
      }
    }
  };
  follow("vod_ugc_upload_bg.js");
  const js = ["vod_ugc_upload.js", "vod_ugc_upload_load.js", "vod_ugc_upload_codes.js", "vod_ugc_upload_bg.js", ...snippets];
  const out = {};
  for (const [key, files] of [["wasm", ["vod_ugc_upload_bg.wasm"]], ["js", js]]) {
    const bytes = Buffer.concat(files.map((name) => readFileSync(path.join(PKG, name))));
    const name = files.map((file) => `\`pkg/${file}\``).join(" + ");
    out[key] = { name, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  }
  return out;
}

// "ours-slices": ours, its Worker made to read slices (Chromium's default is
// a BYOB stream): the engines section's comparison, made here for Chromium.
const HASH_METHODS = ["ours", "ours-slices", "hash-wasm", "js-sha1", "webcrypto", "read", "read-stream"];

async function measureHashing(page, opts, expectedSha, size) {
  // The peers read slices of the size ours reads (its most frequent slice),
  // or 8 MiB when ours reads no slices the page can see.
  const probe = await page.evaluate(() => bench.probeReads("mem"));
  const counts = new Map();
  for (const s of probe.sizes) counts.set(s, (counts.get(s) || 0) + 1);
  const observed = [...counts.entries()].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]?.[0] ?? null;
  const slice = observed && observed >= 64 * 1024 ? observed : 8 * MiB;
  const how = [
    observed ? `${fmt(observed / MiB, 2)} MiB slices` : null,
    probe.streams ? `Blob.stream() (${probe.streams}×)` : null,
    probe.workers ? `in a Worker (${probe.workers} started; reads there are not seen)` : null,
  ].filter(Boolean).join(", ") || "nothing the page can see";
  log(`hashing: ours reads: ${how}; peers read ${fmt(slice / MiB, 2)} MiB slices`);

  const results = { slice, observedSlice: observed, how, mem: {}, disk: {}, pooled: { mem: [], disk: [] }, buffer: {}, mismatches: [] };
  const check = (what, hex) => {
    if (hex !== null && hex !== expectedSha) results.mismatches.push(`${what} gave ${hex}, expected ${expectedSha}`);
  };
  for (const src of ["mem", "disk"]) for (const m of HASH_METHODS) results[src][m] = [];
  for (let run = -1; run < opts.runs; run++) {
    // Each method on the in-memory Blob and at once on the disk File: the
    // two of a run are measured back to back (ours' disk/memory ratio per
    // run), in turns first one, then the other.
    for (const m of HASH_METHODS) {
      for (const src of pairOrder(run)) {
        const r = await page.evaluate(([m, src, slice]) => bench.hash(m, src, slice), [m, src, slice])
          .catch((e) => { throw new Error(`hashing with ${m} (${src}, run ${run + 1}): ${e.message}`); });
        check(`${m} (${src})`, r.hex);
        if (run >= 0) results[src][m].push(mibps(size, r.ms));
      }
    }
    let share = "";
    if (run >= 0) {
      const first = { mem: results.mem.ours[run], disk: results.disk.ours[run] };
      const best = await pooledOfRun(run, first, async (src) => {
        const r = await page.evaluate(([src]) => bench.hash("ours", src), [src]);
        check(`ours (${src})`, r.hex);
        return mibps(size, r.ms);
      });
      for (const src of ["mem", "disk"]) results.pooled[src].push(best[src]);
      share = `: ours on disk ${pct(first.disk / first.mem)} of in memory (${RATIO_PASSES} passes each: ${pct(best.disk / best.mem)}; ${passesLine(best.passes)})`;
    }
    log(`hashing: ${run < 0 ? "warm-up" : `run ${run + 1}/${opts.runs}`} done${share}`);
  }
  for (const m of ["hash-wasm", "webcrypto"]) results.buffer[m] = [];
  for (let run = -1; run < opts.runs; run++) {
    for (const m of ["hash-wasm", "webcrypto"]) {
      const r = await page.evaluate(([m, slice]) => bench.hashBuffer(m, slice), [m, slice]);
      check(`${m} (ArrayBuffer)`, r.hex);
      if (run >= 0) results.buffer[m].push(mibps(size, r.ms));
    }
  }
  return results;
}

async function removeMedia(dataDir, url) {
  const m = /\/media\/([^/]+)\//.exec(url || "");
  if (m) await rm(path.join(dataDir, "media", m[1]), { recursive: true, force: true });
}

/**
 * Timed runs after the warm-up: opts.runs, unless the warm-up shows they
 * would take longer than `budgetMs` (a slow machine or build): then as many
 * as fit, but never fewer than DEFAULT_RUNS (or opts.runs, if fewer), and
 * the table says so.
 */
function runsWithin(opts, budgetMs, warmupMs, what) {
  const fit = Math.max(Math.min(opts.runs, DEFAULT_RUNS), Math.floor(budgetMs / Math.max(1, warmupMs)));
  if (fit >= opts.runs) return opts.runs;
  log(`${what}: the warm-up took ${seconds(warmupMs)}: ${fit} timed run(s) instead of ${opts.runs}, to stay within ${seconds(budgetMs)}`);
  return fit;
}

async function measureUpload(page, opts, dataDir) {
  await page.evaluate(() => bench.prepareParts());
  const r = { ours: [], baseline: [], runs: opts.runs };
  for (let run = -1; run < r.runs; run++) {
    const t = Date.now();
    const ours = await page.evaluate(() => bench.upload("disk"));
    if (ours.instant || ours.partsUploaded === 0) throw new Error("the upload was instant: the bench must send new bytes every run");
    await removeMedia(dataDir, ours.url);
    await page.evaluate(() => bench.prepareBaseline("disk"));
    const base = await page.evaluate(() => bench.baseline());
    await removeMedia(dataDir, base.url);
    log(`upload: ${run < 0 ? "warm-up" : `run ${run + 1}/${r.runs}`}: ours ${seconds(ours.total)} (hash ${seconds(ours.hash)}, ` +
      `first part ${seconds(ours.firstPart)}, ${ours.partEntries} part requests, ${ours.longTasks.length} long tasks), baseline ${seconds(base.ms)}`);
    if (run < 0) {
      r.runs = runsWithin(opts, UPLOAD_BUDGET_MS, Date.now() - t, "upload");
    } else {
      r.ours.push(ours);
      r.baseline.push(base.ms);
    }
  }
  return r;
}

/**
 * Ours (default options) against plain fetch of the same 1 MiB parts, 4 in
 * flight, over an uplink throttled by Chromium's network emulation (CDP
 * Network.emulateNetworkConditions): on a link that is the bottleneck, what
 * costs ours throughput is not CPU but how it keeps the link busy. After
 * the upload section on the same page (`afterUploads`), no warm-up of its
 * own: the link, not the CPU, sets the pace, and the page, its Worker and
 * the server have just uploaded 256 MiB several times.
 */
async function measureThrottled(main, opts, dataDir, afterUploads) {
  const mib = Math.min(THROTTLED.mib, opts.mib);
  await main.page.evaluate((n) => bench.useSmall(n), mib);
  if (!afterUploads) await main.page.evaluate(() => bench.prepareParts());
  const cdp = await main.context.newCDPSession(main.page);
  await cdp.send("Network.enable");
  const emulate = (uploadThroughput) => cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput,
  });
  const r = { mib, ours: [], baseline: [], runs: opts.runs, warmup: !afterUploads };
  try {
    for (let run = r.warmup ? -1 : 0; run < r.runs; run++) {
      const t = Date.now();
      await main.page.evaluate(() => bench.prepareBaseline("small"));
      await emulate(THROTTLED.bytesPerSecond);
      const ours = await main.page.evaluate(() => bench.upload("small"));
      const base = await main.page.evaluate(() => bench.baseline());
      await emulate(-1);
      if (ours.instant || ours.partsUploaded === 0) throw new Error("the throttled upload was instant: the bench must send new bytes every run");
      await removeMedia(dataDir, ours.url);
      await removeMedia(dataDir, base.url);
      log(`throttled: ${run < 0 ? "warm-up" : `run ${run + 1}/${r.runs}`}: ours ${seconds(ours.total)} (hash ${seconds(ours.hash)}), baseline ${seconds(base.ms)}`);
      // The first run, warm-up or not, tells how many fit the budget.
      if (run === (r.warmup ? -1 : 0)) r.runs = runsWithin(opts, THROTTLED.budgetMs, Date.now() - t, "throttled");
      if (run >= 0) {
        r.ours.push(ours);
        r.baseline.push(base.ms);
      }
    }
  } finally {
    await emulate(-1).catch(() => {});
    await cdp.detach().catch(() => {});
  }
  return r;
}

/**
 * Peak memory of a fresh page (its own browser context: its own renderer,
 * V8 heap and wasm instance) uploading `file` as it is, its first 16 bytes
 * renewed each run. The page samples its wasm memory; here we sample V8's
 * heap and ArrayBuffer backing stores (CDP Runtime.getHeapUsage) and the
 * renderers' RSS, every 100 ms.
 */
/**
 * The page's dedicated Workers (the package reads files in one), attached
 * through the page's CDP session in non-flat mode (playwright-core sessions
 * address one target): `heapUsages()` asks each for Runtime.getHeapUsage.
 */
async function watchWorkers(cdp) {
  const sessions = new Set();
  const pending = new Map();
  let nextId = 1;
  let seen = 0;
  cdp.on("Target.attachedToTarget", ({ sessionId, targetInfo }) => {
    if (targetInfo.type === "worker") {
      sessions.add(sessionId);
      seen++;
    }
  });
  cdp.on("Target.detachedFromTarget", ({ sessionId }) => sessions.delete(sessionId));
  cdp.on("Target.receivedMessageFromTarget", ({ message }) => {
    const m = JSON.parse(message);
    const resolve = pending.get(m.id);
    if (resolve) {
      pending.delete(m.id);
      resolve(m.result ?? null);
    }
  });
  await cdp.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  return {
    seen: () => seen,
    heapUsages: () => [...sessions].map((sessionId) => new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      setTimeout(() => { if (pending.delete(id)) resolve(null); }, 2_000);
      cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method: "Runtime.getHeapUsage" }) })
        .catch(() => { if (pending.delete(id)) resolve(null); });
    })),
  };
}

async function memoryRun(browser, baseUrl, dataDir, file, browserCdp) {
  refreshHead(file);
  const { context, page } = await openPage(browser, baseUrl, file);
  try {
    const cdp = await context.newCDPSession(page);
    await page.evaluate(() => { if (typeof gc === "function") gc(); });
    // The page's renderer is the one that works during the upload: the
    // renderer whose CPU time grows most. Its RSS is tracked (not a target).
    const cpuBefore = await renderers(browserCdp);
    const rssBefore = {};
    const rssPeak = {};
    for (const pid of Object.keys(cpuBefore)) rssBefore[pid] = rssPeak[pid] = rssOf(pid);
    const workers = await watchWorkers(cdp);
    // The page's and its Workers' V8 heaps and ArrayBuffers, summed.
    const sample = async () => {
      const usages = await Promise.all([cdp.send("Runtime.getHeapUsage"), ...workers.heapUsages()]);
      const sum = { heap: 0, buffers: 0 };
      for (const u of usages) {
        if (!u) continue;
        sum.heap += u.usedSize;
        sum.buffers += u.backingStorageSize ?? 0;
      }
      return sum;
    };
    const before = await sample();
    const peak = { heap: before.heap, buffers: before.buffers, both: before.heap + before.buffers };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = Date.now();
        try {
          const s = await sample();
          peak.heap = Math.max(peak.heap, s.heap);
          peak.buffers = Math.max(peak.buffers, s.buffers);
          peak.both = Math.max(peak.both, s.heap + s.buffers);
        } catch {}
        for (const pid of Object.keys(rssPeak)) rssPeak[pid] = Math.max(rssPeak[pid] ?? 0, rssOf(pid) ?? 0);
        await new Promise((res) => setTimeout(res, Math.max(0, 100 - (Date.now() - t))));
      }
    })();
    let result;
    try {
      result = await page.evaluate(() => bench.memoryUpload());
    } finally {
      sampling = false;
      await sampler;
    }
    const cpuAfter = await renderers(browserCdp);
    const busiest = Object.keys(cpuBefore).sort((x, y) => (cpuAfter[y] ?? 0) - cpuBefore[y] - ((cpuAfter[x] ?? 0) - cpuBefore[x]))[0];
    await removeMedia(dataDir, result.url);
    if (result.instant) throw new Error("the memory run's upload was instant");
    return {
      workers: workers.seen(),
      wasm: result.wasmPeak,
      heap: peak.heap,
      buffers: peak.buffers,
      sum: result.wasmPeak + peak.both,
      rssGrowth: busiest && rssBefore[busiest] !== null ? rssPeak[busiest] - rssBefore[busiest] : null,
      ms: result.ms,
    };
  } finally {
    await context.close();
  }
}

async function measureMemory(browser, baseUrl, opts, dataDir, files, browserCdp) {
  const out = {};
  let predict = null; // ms per MiB uploaded, from the previous size's runs
  for (const [label, file, sizeMib, budgetMs] of files) {
    const runs = [];
    let count = opts.runs;
    // Every run is a fresh page: after the smaller size's runs (which
    // warmed the server up) a warm-up would only cost time.
    const warmup = predict === null;
    if (!warmup) count = runsWithin(opts, budgetMs, predict * sizeMib, `memory ${label} (predicted from the smaller runs)`);
    for (let run = warmup ? -1 : 0; run < count; run++) {
      const t = Date.now();
      const r = await memoryRun(browser, baseUrl, dataDir, file, browserCdp);
      log(`memory ${label}: ${run < 0 ? "warm-up" : `run ${run + 1}/${count}`}: ${r.workers} worker(s), wasm ${mib(r.wasm)}, JS heap ${mib(r.heap)}, ` +
        `ArrayBuffers ${mib(r.buffers)}, renderer RSS +${r.rssGrowth === null ? "n/a" : mib(r.rssGrowth)}, ${seconds(r.ms)}`);
      if (run < 0) count = runsWithin(opts, budgetMs, Date.now() - t, `memory ${label}`);
      else runs.push(r);
    }
    predict = median(runs.map((r) => r.ms)) / sizeMib;
    out[label] = { runs, count, warmup };
  }
  return out;
}

/**
 * Resume after a reload (issue 10): the big file (its first bytes renewed
 * each run: a new upload, and a new hash cache entry since its date
 * changes) is uploaded until 40 % is stored and aborted; the page is
 * reloaded in the same browser context (IndexedDB kept), the file picked
 * again and uploaded. The figure: time from upload() to the first part on
 * the wire after the reload, against the first run's hash phase. Every
 * run loads the page afresh; after the memory section (`afterMemory`: it
 * uploaded the same file from fresh pages) no warm-up of its own.
 */
async function measureResume(browser, baseUrl, opts, dataDir, file, afterMemory) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const open = async () => {
    if (page.url().startsWith(baseUrl)) await page.reload({ timeout: 30_000 });
    else await page.goto(`${baseUrl}/index.html`, { timeout: 30_000 });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000, state: "attached" });
    await page.setInputFiles("#file", file);
    await page.evaluate(() => bench.takeFile());
  };
  const runs = [];
  let count = opts.runs;
  const warmup = !afterMemory;
  try {
    for (let run = warmup ? -1 : 0; run < count; run++) {
      const t = Date.now();
      refreshHead(file);
      await open();
      const first = await page.evaluate((at) => bench.reloadRun(at), RESUME_ABORT_AT);
      if (!first.aborted) throw new Error("the first upload of a resume run finished before its abort");
      await open();
      const resumed = await page.evaluate(() => bench.reloadRun());
      await removeMedia(dataDir, resumed.url);
      if (!resumed.resumed || resumed.rehashed) throw new Error(`the upload after the reload did not resume: ${JSON.stringify(resumed)}`);
      log(`resume: ${run < 0 ? "warm-up" : `run ${run + 1}/${count}`}: first run hash ${seconds(first.hash)}; after the reload, ` +
        `first part ${seconds(resumed.firstPart)}, ${resumed.hashReports} hash report(s), ${resumed.partsSkipped} parts skipped, all ${seconds(resumed.total)}`);
      if (run === (warmup ? -1 : 0)) count = runsWithin(opts, RESUME_BUDGET_MS, Date.now() - t, "resume");
      if (run >= 0) runs.push({ first, resumed });
    }
  } finally {
    await context.close();
  }
  return { runs, count, warmup };
}

// --- the table ----------------------------------------------------------------------------

function buildTable(res, opts) {
  const rows = [];
  const targets = [];
  const row = (what, result, compared = "", target = "") => rows.push([what, result, compared, target]);
  const section = (title) => rows.push([`**${title}**`, "", "", ""]);
  const target = (name, ok, detail) => {
    targets.push({ name, ok, detail });
    return `${name}: ${verdict(ok)}`;
  };
  const N = `${opts.mib} MiB`;

  if (res.size) {
    const { wasm, js } = res.size;
    const gz = wasm.gzip + js.gzip;
    section("Package size (gzip -9; KB = 1000 bytes)");
    row(wasm.name, `${fmtInt(wasm.raw)} B raw, ${kb(wasm.gzip)} gzip`);
    row(js.name, `${fmtInt(js.raw)} B raw, ${kb(js.gzip)} gzip`);
    row("together", `${fmtInt(wasm.raw + js.raw)} B raw, ${kb(gz)} gzip`,
      `Tencent's current SDK: ${kb(TENCENT_SDK_GZIP)} gzip (${pct(gz / TENCENT_SDK_GZIP)} of it)`,
      // Issue 13: ≤ 40 KB gzip for the .wasm and the JS together (issue 5 had 30).
      target("≤ 40 KB gzip", gz <= 40_000, `${kb(gz)} gzip`));
  }

  if (res.hash) {
    const h = res.hash;
    const sliceLabel = `${fmt(h.slice / MiB, h.slice % MiB ? 2 : 0)} MiB slices`;
    const med = {};
    for (const src of ["mem", "disk"]) {
      med[src] = {};
      for (const m of HASH_METHODS) med[src][m] = median(h[src][m]);
    }
    const names = {
      ours: `ours: \`hashFile\` (reads: ${h.how})`,
      "ours-slices": "ours, its Worker made to read 4 MiB slices",
      "hash-wasm": `hash-wasm SHA-1, ${sliceLabel}, read then update in turn`,
      "js-sha1": `js-sha1, ${sliceLabel}, read then update in turn`,
      webcrypto: "WebCrypto SHA-1 one-shot: `arrayBuffer()` of it all, then `digest`",
      read: `Blob reads alone, ${sliceLabel}`,
      "read-stream": "Blob reads alone, `stream()` with a BYOB reader into a recycled 4 MiB buffer",
    };
    // The I/O ceiling: the faster way of reading alone, per column.
    const io = (src) => Math.max(med[src].read ?? 0, med[src]["read-stream"] ?? 0) || null;
    const isRead = (m) => m === "read" || m === "read-stream";
    for (const src of ["mem", "disk"]) {
      section(`Hashing ${N}, ${src === "mem" ? "an in-memory Blob" : "a disk-backed File (`<input type=file>`)"}: MiB/s`);
      for (const m of HASH_METHODS) {
        const v = med[src][m];
        const vsPeer = `${ratio(v / med[src]["hash-wasm"])} hash-wasm`;
        const vsIo = `${pct(v / io(src))} of I/O`;
        let compared = isRead(m) ? (v === io(src) ? "the I/O ceiling" : vsIo) : m === "hash-wasm" ? vsIo : `${vsPeer}, ${vsIo}`;
        let t = "";
        if (m === "ours") {
          // Issue 13's per-engine target (the engines section has Firefox's and WebKit's).
          const where = src === "mem" ? "in-memory Blob" : "disk File";
          t = target(`Chromium, ${where}: SHA-1 ≥ 1.3 × hash-wasm reading slices`, v / med[src]["hash-wasm"] >= 1.3, ratio(v / med[src]["hash-wasm"]));
        }
        if (m === "ours" && src === "disk") {
          // Issue 13 item 2 (issue 5 asked 90 % of the medians).
          const d = diskShare(h.pooled, { mem: h.mem.ours, disk: h.disk.ours });
          compared += `; of ours in memory ${d.detail}`;
          t += `; ${target(`Chromium: ${d.name}`, d.ok, d.detail)}`;
        }
        row(names[m], `${fmt(v)} MiB/s${range(h[src][m], (x) => fmt(x))}`, compared, t);
      }
    }
    section(`Reference: hashing ${N} already in an ArrayBuffer (no reads): MiB/s`);
    const hw = median(h.buffer["hash-wasm"]);
    row(`hash-wasm SHA-1, update in ${sliceLabel}`, `${fmt(hw)} MiB/s${range(h.buffer["hash-wasm"], (x) => fmt(x))}`,
      `ours on an in-memory Blob: ${ratio(med.mem.ours / hw)} this`);
    row("WebCrypto SHA-1 `digest`, one shot", `${fmt(median(h.buffer.webcrypto))} MiB/s${range(h.buffer.webcrypto, (x) => fmt(x))}`);
    if (h.mismatches.length) row("**DIGEST MISMATCHES**", h.mismatches.join("; "));
  }

  if (res.upload) {
    const u = res.upload;
    const total = median(u.ours.map((o) => o.total));
    const hash = median(u.ours.map((o) => o.hash));
    const first = median(u.ours.map((o) => o.firstPart));
    const phase = median(u.ours.map((o) => o.total - o.hash));
    const base = median(u.baseline);
    const all = u.ours.map((o) => o.longTasks);
    const counts = all.map((t) => t.length);
    const longest = Math.max(0, ...all.flat());
    const totalLong = counts.reduce((a, b) => a + b, 0);
    const fewer = u.runs < opts.runs ? ` [${u.runs} run${u.runs > 1 ? "s" : ""}: time budget]` : "";
    section(`Upload of ${N} (a disk-backed File) to vod-ugc-server on loopback, 1 MiB parts, 4 in flight${fewer}`);
    row("ours: total, `upload()` call to result", `${seconds(total)}${range(u.ours.map((o) => o.total), seconds)}`, `${fmt(mibps(opts.mib * MiB, total))} MiB/s`);
    row("ours: hash phase (\"hash\" stage reaches its total)", `${seconds(hash)}${range(u.ours.map((o) => o.hash), seconds)}`, `${fmt(mibps(opts.mib * MiB, hash))} MiB/s`);
    row("ours: first part on the wire (Resource Timing `requestStart`)", `${seconds(first)}${range(u.ours.map((o) => o.firstPart), seconds)}`,
      `${ratio(first / hash)} hash phase`, target("first part ≤ 1.1 × hash phase", first <= 1.1 * hash, ratio(first / hash)));
    row("ours: upload phase (hash done to result)", `${seconds(phase)}${range(u.ours.map((o) => o.total - o.hash), seconds)}`,
      `${fmt(mibps(opts.mib * MiB, phase))} MiB/s; ${ratio(phase / base)} baseline`);
    row("baseline: plain `fetch`, 4 in flight, MD5s precomputed: signature, Init, parts, Finish",
      `${seconds(base)}${range(u.baseline, seconds)}`, `${fmt(mibps(opts.mib * MiB, base))} MiB/s`);
    row("ours: total vs hash phase + baseline", ratio(total / (hash + base)), `${seconds(total)} vs ${seconds(hash + base)}`,
      target("total ≤ 1.2 × (hash + baseline)", total <= 1.2 * (hash + base), ratio(total / (hash + base))));
    row("long tasks (> 50 ms) on the main thread during ours", `${fmt(median(counts))} per upload (median), ${totalLong} in ${counts.length} uploads`,
      `longest ${fmt(longest)} ms; per upload (median) ${fmt(median(all.map((t) => Math.max(0, ...t))))} ms`, target("no long task over 50 ms", totalLong === 0, `${totalLong} long tasks, longest ${fmt(longest)} ms`));
  }

  if (res.throttled) {
    const t = res.throttled;
    const bytes = t.mib * MiB;
    const phase = median(t.ours.map((o) => o.total - o.hash));
    const total = median(t.ours.map((o) => o.total));
    const base = median(t.baseline);
    const fewer = t.runs < opts.runs ? ` [${t.runs} run${t.runs > 1 ? "s" : ""}: time budget]` : "";
    const warm = t.warmup ? "" : `; no warm-up of its own: it follows the ${N} uploads on the same page`;
    section(`Upload of ${t.mib} MiB over an uplink throttled to ${fmt(THROTTLED.bytesPerSecond / MiB)} MiB/s (Chromium network emulation), default options${warm}${fewer}`);
    row("ours: upload phase (hash done to result)", `${seconds(phase)}${range(t.ours.map((o) => o.total - o.hash), seconds)}`,
      `${fmt(mibps(bytes, phase), 3)} MiB/s`,
      target("throttled: ours ≥ 0.95 × baseline throughput", base / phase >= 0.95, `${ratio(base / phase)} baseline`));
    row("ours: total, `upload()` call to result (hashing included)", `${seconds(total)}${range(t.ours.map((o) => o.total), seconds)}`,
      `${fmt(mibps(bytes, total), 3)} MiB/s; ${ratio(base / total)} baseline`);
    row("baseline: plain `fetch`, the same 1 MiB parts, 4 in flight: signature, Init, parts, Finish",
      `${seconds(base)}${range(t.baseline, seconds)}`, `${fmt(mibps(bytes, base), 3)} MiB/s`);
  }

  if (res.memory) {
    const m = res.memory;
    const labels = Object.keys(m);
    section("Peak memory of the page and its Workers while uploading a disk-backed File (fresh page each run, sampled every 100 ms)");
    const med = {};
    for (const label of labels) {
      const { runs, count } = m[label];
      const pick = (k) => median(runs.map((r) => r[k]));
      med[label] = { wasm: pick("wasm"), heap: pick("heap"), buffers: pick("buffers"), sum: pick("sum"), rss: pick("rssGrowth") };
      const { warmup } = m[label];
      const fewer = (count < opts.runs ? ` [${count} run${count > 1 ? "s" : ""}: time budget]` : "") +
        (warmup ? "" : " [no warm-up of its own: after the smaller runs]");
      row(`${label}: wasm memory + JS heap + ArrayBuffers`, `${mib(med[label].sum)}${range(runs.map((r) => r.sum), mib)}${fewer}`,
        `wasm ${mib(med[label].wasm)}; JS heap ${mib(med[label].heap)}; ArrayBuffers ${mib(med[label].buffers)}; ` +
        `renderer RSS growth ${med[label].rss === null ? "n/a" : mib(med[label].rss)} (not in the target)`,
        label === labels[labels.length - 1] ? target(`${label}: ≤ 64 MiB`, med[label].sum <= 64 * MiB, mib(med[label].sum)) : "");
    }
    if (labels.length === 2) {
      const [small, big] = labels;
      const ok = med[big].wasm <= med[small].wasm && med[big].sum <= med[small].sum * 1.1;
      row(`${big} vs ${small}`, `${med[big].sum >= med[small].sum ? "+" : "−"}${mib(Math.abs(med[big].sum - med[small].sum))}`,
        `wasm ${mib(med[big].wasm)} vs ${mib(med[small].wasm)}; all ${mib(med[big].sum)} vs ${mib(med[small].sum)}`,
        target(`${big} no larger than ${small} (wasm not at all, all within 10 %)`, ok, `${mib(med[big].sum)} vs ${mib(med[small].sum)}`));
    }
  }

  if (res.resume) {
    const { runs, size, count, warmup } = res.resume;
    const notes = (count < opts.runs ? ` [${count} run${count > 1 ? "s" : ""}: time budget]` : "") +
      (warmup ? "" : " [no warm-up of its own: after the memory runs' uploads of the same file]");
    section(`Resume of a ${size} upload after a reload (aborted at ${pct(RESUME_ABORT_AT)}; disk-backed File, hash cache on)${notes}`);
    const firstHash = runs.map((r) => r.first.hash);
    const resumedFirst = runs.map((r) => r.resumed.firstPart);
    const share = runs.map((r) => r.resumed.firstPart / r.first.hash);
    row("first upload: hash phase", seconds(median(firstHash)) + range(firstHash, seconds));
    row("first upload: upload() to the first part on the wire", seconds(median(runs.map((r) => r.first.firstPart))));
    const ok = median(share) <= 0.05;
    row("after the reload: upload() to the first part on the wire", seconds(median(resumedFirst)) + range(resumedFirst, seconds),
      `${fmt(median(share) * 100, 2)} % of the first upload's hash phase; ${median(runs.map((r) => r.resumed.hashReports))} hash report(s)`,
      target("first part after a reload ≤ 5 % of the first hash phase (issue 10)", ok, `${fmt(median(share) * 100, 2)} %`));
    const totals = runs.map((r) => r.resumed.total);
    row("after the reload: whole upload", seconds(median(totals)) + range(totals, seconds),
      `${median(runs.map((r) => r.resumed.partsSkipped))} parts skipped (their bytes checked while the rest is sent)`);
  }
  if (res.server) serverRows(res.server, { row, section, target, median, range, fmt, ratio });

  for (const r of res.engines || []) {
    engineRows(r, { row, section, target, mib: opts.mib, bigLabel: res.bigLabel,
      sliceLabel: (bytes = res.engineSlice) => `${fmt(bytes / MiB, bytes % MiB ? 2 : 0)} MiB slices` });
  }

  const esc = (s) => String(s).replace(/\|/g, "\\|");
  const lines = ["| benchmark | result (median; range) | compared | target |", "|---|---|---|---|"];
  for (const r of rows) lines.push(`| ${r.map(esc).join(" | ")} |`);
  return { table: lines.join("\n"), targets };
}

/** "hash 110 s, upload 80 s, …; setup 25 s; total 700 s (11.7 min)". */
function timesLine(times, elapsedMs) {
  const s = (ms) => `${Math.round(ms / 1000)} s`;
  const setup = elapsedMs - times.reduce((sum, [, ms]) => sum + ms, 0);
  return `${times.map(([name, ms]) => `${name} ${s(ms)}`).join(", ")}; ` +
    `setup (random files, digests, server, browser) ${s(setup)}; total ${s(elapsedMs)} (${fmt(elapsedMs / 60_000, 1)} min)`;
}

// --- BENCHMARKS.md --------------------------------------------------------------------------

const BEGIN = "<!-- bench:begin (written by `npm run bench -- --write`; edit outside the markers) -->";
const END = "<!-- bench:end -->";

function recordMarkdown(info, table, targets, opts, elapsedMs) {
  const lines = [
    BEGIN,
    "",
    `Run of ${info.date} on commit ${info.commit}; time per section: ${info.times}.`,
    "",
    "| machine | |",
    "|---|---|",
    `| CPU | ${info.model}, \`nproc\` ${info.nproc} |`,
    `| memory | ${fmt(info.memGiB, 1)} GiB |`,
    `| load average (1 min) at start / end | ${info.loadStart} / ${info.loadEnd} |`,
    `| browser | ${info.browser} (headless, playwright-core ${info.playwright}) |`,
    `| Node.js | ${info.node} |`,
    `| runs | median of ${opts.runs} after a warm-up (where a section has none of its own, its title says so), ${opts.mib} MiB and ${info.bigLabel} of random bytes |`,
    "",
    table,
    "",
    "Targets (issues 5, 9, 10 and 13):",
    "",
    ...targets.map((t) => `- ${outcome(t.ok)}: ${t.name} (${t.detail})`),
    "",
    END,
  ];
  return lines.join("\n");
}

const TEMPLATE = (block) => `# Benchmarks\n\n${block}\n`;

async function writeBenchmarks(block) {
  const file = path.join(ROOT, "BENCHMARKS.md");
  let text = existsSync(file) ? await readFile(file, "utf8") : TEMPLATE(`${BEGIN}\n${END}`);
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) text = `${text.trimEnd()}\n\n${block}\n`;
  else text = text.slice(0, a) + block + text.slice(b + END.length);
  await writeFile(file, text);
  log(`wrote ${path.relative(process.cwd(), file) || file}`);
}

// --- main ------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${e.message}`);
    process.exit(2);
  }
  if (opts.help) {
    console.log(HELP);
    return;
  }
  if (opts.write && !opts.defaults) {
    console.error(`bench: --write records only a full run with the defaults (drop --runs < ${DEFAULT_RUNS}, --mib, --big-mib, --only, --engines)`);
    process.exit(2);
  }
  const needed = [["the package (npm run build)", path.join(PKG, "vod_ugc_upload.js")], ["the server (npm run build)", SERVER_BIN], ["Chromium", CHROMIUM],
    ...(opts.only.includes("server") ? [["the load generator (npm run bench builds it)", LOAD_BIN]] : []),
    ...PEERS.map(([from]) => [`${from} (npm ci)`, path.join(ROOT, from)])];
  // The server section alone needs only the server; the size section alone, only the package.
  const only = (section) => opts.only.every((s) => s === section);
  for (const [what, p] of only("server") ? [needed[1], needed[3]] : only("size") ? needed.slice(0, 1) : needed) {
    if (!existsSync(p)) throw new Error(`missing ${what}: ${p}`);
  }

  const started = Date.now();
  const times = []; // [section, ms]
  const info = { ...machine(), date: new Date().toISOString().replace(/\.\d+Z$/, "Z"), loadStart: os.loadavg()[0].toFixed(2) };
  info.playwright = JSON.parse(readFileSync(path.join(ROOT, "node_modules/playwright-core/package.json"), "utf8")).version;

  const tmp = await mkdtemp(path.join(os.tmpdir(), "vod-ugc-bench-"));
  let server = null;
  let browser = null;
  let cleaning = null;
  const cleanup = () => {
    cleaning ??= (async () => {
      try { await browser?.close(); } catch {}
      try { await server?.stop(); } catch {}
      await rm(tmp, { recursive: true, force: true });
    })();
    return cleaning;
  };
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const res = {};
    const www = path.join(tmp, "www");
    const dataDir = path.join(tmp, "data");
    await mkdir(path.join(www, "peers"), { recursive: true });
    await mkdir(dataDir);
    for (const name of ["index.html", "bench.js"]) await copyFile(path.join(ROOT, "bench/page", name), path.join(www, name));
    for (const [from, to] of PEERS) await copyFile(path.join(ROOT, from), path.join(www, "peers", to));

    // Each section's time: printed as it ends, and with the table.
    const timed = async (name, work) => {
      const t = Date.now();
      try {
        return await work();
      } finally {
        times.push([name, Date.now() - t]);
        log(`section ${name}: ${seconds(Date.now() - t)}`);
      }
    };
    if (opts.only.includes("size")) res.size = await timed("size", () => measureSize());

    // The sections in the browser (the server section makes its own data).
    const needData = opts.only.some((s) => s !== "size" && s !== "server");
    if (needData) {
      // In the served folder: the page fetches it into its in-memory Blob.
      const file = path.join(www, `bench-${opts.mib}.bin`);
      log(`writing ${opts.mib} MiB of random bytes to ${file}`);
      writeRandomFile(file, opts.mib * MiB);
      const expectedSha = sha1File(file);

      // Imported here so that --help works before `npm ci` (a fresh clone).
      const { chromium } = await import("playwright-core");
      server = await startServer({ dataDir, wwwDir: www });
      log(`server ${server.url}`);
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
      info.browser = `Chromium ${browser.version()}`;
      const browserCdp = await browser.newBrowserCDPSession();

      if (opts.only.includes("hash") || opts.only.includes("upload") || opts.only.includes("throttled")) {
        const main = await openPage(browser, server.url, file);
        if (!(await main.page.evaluate(() => bench.hasGc()))) log("note: gc() is not exposed; runs start without a forced GC");
        await main.page.evaluate((url) => bench.loadMemory(url), `/${path.basename(file)}`);
        if (opts.only.includes("hash")) res.hash = await timed("hash", () => measureHashing(main.page, opts, expectedSha, opts.mib * MiB));
        if (opts.only.includes("upload")) res.upload = await timed("upload", () => measureUpload(main.page, opts, dataDir));
        if (opts.only.includes("throttled")) {
          res.throttled = await timed("throttled", () => measureThrottled(main, opts, dataDir, Boolean(res.upload)));
        }
        if (main.problems.length) log(`page problems: ${main.problems.join("; ")}`);
        await main.context.close();
      }
      const big = path.join(tmp, `bench-${opts.bigMib}.bin`);
      const label = (n) => (n % 1024 ? `${n} MiB` : `${n / 1024} GiB`);
      info.bigLabel = label(opts.bigMib);
      if (["memory", "resume", "engines"].some((section) => opts.only.includes(section))) {
        log(`writing ${opts.bigMib} MiB of random bytes to ${big}`);
        writeRandomFile(big, opts.bigMib * MiB);
      }
      if (opts.only.includes("memory")) {
        res.memory = await timed("memory", () => measureMemory(browser, server.url, opts, dataDir,
          [[label(opts.mib), file, opts.mib, MEMORY_BUDGET_MS.small], [label(opts.bigMib), big, opts.bigMib, MEMORY_BUDGET_MS.big]], browserCdp));
      }
      if (opts.only.includes("resume")) {
        res.resume = await timed("resume", async () => ({
          ...(await measureResume(browser, server.url, opts, dataDir, big, Boolean(res.memory))), size: label(opts.bigMib),
        }));
      }
      if (opts.only.includes("engines")) {
        // The peers read slices of the size ours reads on the page (8 MiB).
        res.engineSlice = 8 * MiB;
        res.bigLabel = label(opts.bigMib);
        // Digests again: the memory and resume runs renew both files' first bytes.
        const [sha, bigSha] = [sha1File(file), sha1File(big)];
        res.engines = [];
        for (const engine of opts.engines) {
          res.engines.push(await timed(`engines: ${engine}`, () => measureEngine(engine, {
            baseUrl: server.url, file, bigFile: big, size: opts.mib * MiB, expectedSha: sha, bigSha, runs: opts.runs,
            slice: res.engineSlice, log,
            // Chromium's hashing is the hashing section's, when it ran: the same page and bytes.
            hashing: !(engine === "chromium" && res.hash),
            // The upload against plain fetch in Firefox and WebKit (Chromium's is the upload section).
            upload: engine === "chromium" ? null : {
              removeMedia: (url) => removeMedia(dataDir, url),
              runsAfter: (warmupMs) => runsWithin(opts, ENGINE_UPLOAD_BUDGET_MS, warmupMs, `${engine} upload`),
            },
            launchChromium: () => chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS }),
          })));
        }
      }
    } else {
      info.browser = execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    }
    if (opts.only.includes("server")) {
      await server?.stop();
      const serverData = path.join(tmp, "server-data");
      await mkdir(serverData);
      res.server = await timed("server", () => measureServer({
        startServer: () => startServer({ dataDir: serverData, wwwDir: www }), loadBin: LOAD_BIN,
        dataDir: serverData, runs: opts.runs, mib: opts.mib, log,
      }));
    }

    info.loadEnd = os.loadavg()[0].toFixed(2);
    const elapsed = Date.now() - started;
    info.times = timesLine(times, elapsed);
    if (opts.defaults && elapsed > PLAN_MS) {
      log(`note: ${seconds(elapsed)} is over the plan of ${PLAN_MS / 60_000} minutes for a full run: ` +
        `load average ${info.loadStart} → ${os.loadavg()[0].toFixed(2)} (other work on the machine; compare the section times)`);
    }
    const { table, targets } = buildTable(res, opts);
    console.log(`vod-ugc-upload benchmark: ${info.browser}, ${info.model} (nproc ${info.nproc}), load ${info.loadStart} → ${info.loadEnd}, ` +
      `commit ${info.commit}; median of ${opts.runs} runs after a warm-up; ${Math.round(elapsed / 1000)} s\n`);
    console.log(table);
    console.log("");
    for (const t of targets) console.log(`${outcome(t.ok).padEnd(6)}  ${t.name} (${t.detail})`);
    console.log(`\ntime: ${info.times}`);
    const engineMismatches = (res.engines || []).flatMap((r) => r.mismatches);
    if (engineMismatches.length) throw new Error(`digest mismatches: ${engineMismatches.join("; ")}`);
    if (res.hash?.mismatches.length) throw new Error(`digest mismatches: ${res.hash.mismatches.join("; ")}`);
    if (opts.write) await writeBenchmarks(recordMarkdown(info, table, targets, opts, elapsed));
  } finally {
    await cleanup();
  }
}

main().catch((e) => {
  console.error(`bench: error: ${e.stack || e.message}`);
  process.exitCode = 1;
});
