// The per-engine section of `npm run bench` (issue 13): hashFile on the
// same 256 MiB (an in-memory Blob and a disk-backed File) against hash-wasm
// in the same engine and run, ours made to read each way its Worker can
// (the measurement the default per engine comes from), and the memory the
// browser takes while hashing 1 GiB. Chromium through playwright-core (as
// the rest of the bench; in a full run its hashing is the hashing section's,
// so only its memory is measured here), Firefox ESR and WebKitGTK over
// WebDriver (as the browser tests drive them).

import { readdirSync, readFileSync } from "node:fs";
import { startSession } from "./webdriver.mjs";

const MiB = 1 << 20;

/** Process ids under `root` (itself included), from /proc. */
function processTree(root) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {}
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    out.push(pid);
    stack.push(...(children.get(pid) || []));
  }
  return out;
}

/** Resident memory of the processes under `root`, in bytes. */
function treeRss(root) {
  let sum = 0;
  for (const pid of processTree(root)) {
    try {
      const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      if (m) sum += Number(m[1]) * 1024;
    } catch {}
  }
  return sum;
}

/** Runs `work` while sampling the RSS of the tree under `root` every 100 ms: its peak growth. */
async function peakGrowth(root, work) {
  const before = treeRss(root);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, treeRss(root));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await work();
  } finally {
    sampling = false;
    await sampler;
  }
  return Math.max(peak, treeRss(root)) - before;
}

/**
 * One engine's page, behind the calls the section needs: `run(fn, arg)`
 * (a function's source, run in the page), `setFile`, `goto`, and `root`,
 * the process whose tree is the browser.
 */
async function openEngine(engine, launchChromium) {
  if (engine === "chromium") {
    // playwright-core starts the browser as a child of this process: the
    // new one is the Chromium process that was not there before.
    const isChromium = (pid) => {
      try {
        return pid !== process.pid && /chrom/.test(readFileSync(`/proc/${pid}/comm`, "utf8"));
      } catch {
        return false;
      }
    };
    const before = new Set(processTree(process.pid));
    const browser = await launchChromium();
    const root = processTree(process.pid).find((pid) => !before.has(pid) && isChromium(pid));
    const page = await (await browser.newContext()).newPage();
    return {
      version: `Chromium ${browser.version()}`,
      root,
      goto: (url) => page.goto(url),
      run: (fn, arg) => page.evaluate(`(${fn})(${JSON.stringify(arg ?? null)})`),
      setFile: (css, file) => page.setInputFiles(css, file),
      stop: () => browser.close(),
    };
  }
  const driver = await startSession(engine);
  const s = driver.session;
  const [, version] = s.version.split(" ");
  return {
    version: engine === "webkit" ? `WebKitGTK ${version} (MiniBrowser)` : `Firefox ESR ${version}`,
    root: driver.pid,
    goto: (url) => s.goto(url),
    run: (fn, arg) => s.run(fn, arg),
    setFile: (css, file) => s.setFile(css, file),
    stop: () => driver.stop(),
  };
}

// "ours-stream", "ours-slices" and "read-stream" only where Blob streams
// have a BYOB reader: elsewhere ours reads slices anyway, and no BYOB
// stream exists.
const WAYS = ["ours", "ours-stream", "ours-slices", "hash-wasm", "read", "read-stream"];
const BYOB_ONLY = ["ours-stream", "ours-slices", "read-stream"];

/**
 * The order of a run's in-memory and disk hashing, taking turns from run to
 * run (the warm-up is run -1): neither always runs after the other.
 */
export const pairOrder = (run) => (run % 2 === 0 ? ["mem", "disk"] : ["disk", "mem"]);

/** Timed runs the disk/memory target needs in a row (issue 13 item 2). */
export const IN_A_ROW = 3;

/**
 * Passes of ours on each source in a run, for its disk/memory ratio. One
 * 256 MiB pass takes under a second, and on this shared 2-core machine a
 * single pass varies by about ±10 %: hashing the same in-memory Blob twice
 * in a row fell under 95 % of itself in 38 % of 32 runs (BENCHMARKS.md,
 * "Firefox reads slices"), and the fastest of 3 passes each was no steadier
 * (Chromium 88 % where its first passes gave 98 %). So a run times ours
 * RATIO_PASSES times on each source in ABBA order (memory, disk, disk,
 * memory, ...: drift and what a pass leaves to the next one fall on both
 * sides alike) and compares the bytes per second of all passes together.
 * The first pass of each is also the run's figure against the peers, which
 * get one pass each.
 */
export const RATIO_PASSES = 4;

/**
 * The rest of a run's passes of ours for its ratio: `first` holds the run's
 * first pass on each source (MiB/s, in pairOrder(run)), `hashOurs(src)`
 * times one more pass (MiB/s). Returns {mem, disk} MiB/s over each source's
 * passes together, and `passes`, each source's speeds in the order taken.
 */
export async function pooledOfRun(run, first, hashOurs) {
  const passes = { mem: [first.mem], disk: [first.disk] };
  for (let k = 1; k < RATIO_PASSES; k++) {
    for (const src of pairOrder(run + k)) passes[src].push(await hashOurs(src));
  }
  const pooled = (xs) => xs.length / xs.reduce((t, x) => t + 1 / x, 0);
  return { mem: pooled(passes.mem), disk: pooled(passes.disk), passes };
}

/**
 * Ours on the disk File against ours in memory, run by run: `pooled` is
 * {mem, disk} of each run's passes together (the target's ratio), `first`
 * the same of its first passes alone (shown beside, as measured). Whether
 * every run reached 95 %, over at least IN_A_ROW runs (null with fewer).
 */
export function diskShare(pooled, first) {
  const ratios = (x) => x.disk.map((d, i) => d / x.mem[i]);
  const list = (x) => ratios(x).map((r) => `${(r * 100).toFixed(0)} %`).join(", ") || "none";
  const rs = ratios(pooled);
  const ok = rs.length < IN_A_ROW ? null : rs.every((x) => x >= 0.95);
  return {
    ratios: rs,
    ok,
    name: `disk File ≥ 95 % of ours in memory in each of ${IN_A_ROW}+ runs in a row (${RATIO_PASSES} passes each, ABBA)`,
    detail: `run by run: ${list(pooled)}; first passes alone: ${list(first)}`,
  };
}

/** One run's passes of ours, for the log: "mem 330 341 … / disk 337 …". */
export const passesLine = (p) => `mem ${p.mem.map((x) => x.toFixed(0)).join(" ")} / disk ${p.disk.map((x) => x.toFixed(0)).join(" ")} MiB/s`;

/**
 * Measures one engine: `{ version, byob, mem, disk, memory, mismatches }`;
 * speeds in MiB/s per way (runs), memory in bytes (runs). Without
 * `hashing`, only the memory (and the upload, if asked).
 */
export async function measureEngine(engine, { baseUrl, file, bigFile, size, expectedSha, bigSha, runs, slice, launchChromium, log, upload, hashing = true }) {
  const e = await openEngine(engine, launchChromium);
  const out = { engine, version: e.version, hashing, mem: {}, disk: {}, pooled: { mem: [], disk: [] }, memory: [], mismatches: [], upload: null };
  try {
    const load = async (path) => {
      await e.goto(`${baseUrl}/index.html`);
      await e.run(`async () => { for (let i = 0; i < 600 && document.body?.dataset.ready !== "true"; i++) await new Promise((r) => setTimeout(r, 50)); }`);
      await e.setFile("#file", path);
      await e.run(`() => bench.takeFile()`);
    };
    await load(file);
    out.byob = await e.run(`() => bench.hasByob()`);
    if (hashing || upload) await e.run(`(url) => bench.loadMemory(url)`, `/${file.split("/").pop()}`);
    // How ours reads by default here, as its Worker says.
    if (hashing) out.readWay = await e.run(`() => bench.readWay("disk")`);
    const ways = WAYS.filter((w) => out.byob || !BYOB_ONLY.includes(w));
    for (const src of hashing ? ["mem", "disk"] : []) for (const w of ways) out[src][w] = [];
    for (let run = -1; hashing && run < runs; run++) {
      // Each way on the in-memory Blob and at once on the disk File: the two
      // of a run are measured back to back, under the same conditions.
      for (const w of ways) {
        for (const src of pairOrder(run)) {
          const r = await e.run(`([m, src, slice]) => bench.hash(m, src, slice)`, [w, src, slice]);
          if (r.hex !== null && r.hex !== expectedSha) out.mismatches.push(`${engine} ${w} (${src}) gave ${r.hex}`);
          if (run >= 0) out[src][w].push(size / MiB / (r.ms / 1000));
        }
      }
      if (run >= 0) {
        const first = { mem: out.mem.ours[run], disk: out.disk.ours[run] };
        const best = await pooledOfRun(run, first, async (src) => {
          const r = await e.run(`([m, src, slice]) => bench.hash(m, src, slice)`, ["ours", src, slice]);
          if (r.hex !== expectedSha) out.mismatches.push(`${engine} ours (${src}) gave ${r.hex}`);
          return size / MiB / (r.ms / 1000);
        });
        for (const src of ["mem", "disk"]) out.pooled[src].push(best[src]);
        log(`${engine}: ours' passes in run ${run + 1}: ${passesLine(best.passes)}`);
      }
      // Each way of ours: its disk File against its in-memory Blob in this run.
      const pct = (w) => `${out.mem[w][run].toFixed(0)} / ${out.disk[w][run].toFixed(0)} MiB/s, ${(out.disk[w][run] / out.mem[w][run] * 100).toFixed(0)} %`;
      const pooled = run < 0 ? "" : `; ours' ${RATIO_PASSES} passes each: ${(out.pooled.disk[run] / out.pooled.mem[run] * 100).toFixed(0)} %`;
      const share = run < 0 ? "" : `: in memory / disk File, disk of memory: ${ways.filter((w) => w.startsWith("ours")).map((w) => `${w} ${pct(w)}`).join(", ")}${pooled}`;
      log(`${engine}: hashing ${run < 0 ? "warm-up" : `run ${run + 1}/${runs}`} done${share}`);
    }
    if (upload) out.upload = await measureUpload(e, engine, runs, upload, log);
    // Memory: hashFile of the 1 GiB disk File, a fresh page each run.
    for (let run = -1; run < Math.min(runs, 3); run++) {
      await load(bigFile);
      await e.run(`() => new Promise((r) => setTimeout(r, 500))`);
      let hex = null;
      const grown = await peakGrowth(e.root, async () => {
        hex = (await e.run(`() => bench.hash("ours", "disk")`)).hex;
      });
      if (hex !== bigSha) out.mismatches.push(`${engine} ours (big disk File) gave ${hex}`);
      if (run >= 0) out.memory.push(grown);
      log(`${engine}: memory ${run < 0 ? "warm-up" : `run ${run + 1}`}: +${(grown / MiB).toFixed(1)} MiB`);
    }
  } finally {
    await e.stop();
  }
  return out;
}

/**
 * The upload of the disk File against plain `fetch` in this engine, as the
 * upload section does it in Chromium (the page's `bench.upload` and
 * `bench.baseline`, taking turns, new first bytes each run): `{ ours:
 * [{total, hash}], baseline: [ms], runs, requested }`. `removeMedia(url)` deletes what
 * a run stored; `runsAfter(warmupMs)` says how many timed runs follow the
 * warm-up (the bench's time budget).
 */
async function measureUpload(e, engine, runs, { removeMedia, runsAfter }, log) {
  await e.run(`() => bench.prepareParts()`);
  const r = { ours: [], baseline: [], runs, requested: runs };
  for (let run = -1; run < r.runs; run++) {
    const t = Date.now();
    const ours = await e.run(`() => bench.upload("disk")`);
    if (ours.instant || ours.partsUploaded === 0) throw new Error(`${engine}: the upload was instant: the bench must send new bytes every run`);
    await removeMedia(ours.url);
    await e.run(`() => bench.prepareBaseline("disk")`);
    const base = await e.run(`() => bench.baseline()`);
    await removeMedia(base.url);
    log(`${engine}: upload ${run < 0 ? "warm-up" : `run ${run + 1}/${r.runs}`}: ours ${(ours.total / 1000).toFixed(2)} s ` +
      `(hash ${(ours.hash / 1000).toFixed(2)} s), baseline ${(base.ms / 1000).toFixed(2)} s`);
    if (run < 0) r.runs = runsAfter(Date.now() - t);
    else {
      r.ours.push({ total: ours.total, hash: ours.hash });
      r.baseline.push(base.ms);
    }
  }
  return r;
}

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f0 = (x) => (x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(0));
const f2 = (x) => (x === null || !Number.isFinite(x) ? "n/a" : x.toFixed(2));
const span = (xs, f) => {
  const s = xs.filter(Number.isFinite);
  return s.length > 1 ? ` (${f(Math.min(...s))}–${f(Math.max(...s))})` : "";
};

/**
 * The rows of one engine's section, through the table's helpers:
 * `row(what, result, compared, target)`, `section(title)`,
 * `target(name, ok, detail)` (returns the cell text).
 */
export function engineRows(r, { row, section, target, mib, bigLabel, sliceLabel }) {
  const label = { chromium: "Chromium", firefox: "Firefox", webkit: "WebKit" }[r.engine];
  const defaultWay = !r.byob ? "slices (no BYOB reader for Blob streams here)"
    : r.readWay === "slices" ? "4 MiB slices, its default here although Blob streams have a BYOB reader"
    : "a BYOB `Blob.stream()`";
  const names = {
    ours: `ours: \`hashFile\` (its Worker reads ${defaultWay})`,
    "ours-stream": "ours, its Worker made to read a BYOB `Blob.stream()` into recycled 4 MiB buffers",
    "ours-slices": `ours, its Worker made to read ${sliceLabel(4 * MiB)}`,
    "hash-wasm": `hash-wasm SHA-1, ${sliceLabel()}, read then update in turn`,
    read: `Blob reads alone, ${sliceLabel()}`,
    "read-stream": "Blob reads alone, BYOB `Blob.stream()` into a recycled 4 MiB buffer",
  };
  const med = { mem: {}, disk: {} };
  for (const src of ["mem", "disk"]) for (const [w, xs] of Object.entries(r[src])) med[src][w] = median(xs);
  if (!r.hashing) section(`${r.version}: its hashing is the "Hashing ${mib} MiB" rows above (the same run)`);
  for (const src of r.hashing ? ["mem", "disk"] : []) {
    section(`${r.version}: hashing ${mib} MiB, ${src === "mem" ? "an in-memory Blob" : "a disk-backed File"}: MiB/s`);
    for (const w of Object.keys(r[src])) {
      const v = med[src][w];
      let compared = w === "hash-wasm" || w.startsWith("read") ? "" : `${f2(v / med[src]["hash-wasm"])} × hash-wasm`;
      let t = "";
      if (w === "ours") {
        t = target(`${label}, ${src === "mem" ? "in-memory Blob" : "disk File"}: SHA-1 ≥ 1.3 × hash-wasm reading slices`,
          v / med[src]["hash-wasm"] >= 1.3, `${f2(v / med[src]["hash-wasm"])} ×`);
        if (src === "disk") {
          // Issue 13 asks it of Chromium and Firefox; WebKit's is shown.
          const d = diskShare(r.pooled, { mem: r.mem.ours, disk: r.disk.ours });
          compared += `; of ours in memory ${d.detail}`;
          if (r.engine !== "webkit") t += `; ${target(`${label}: ${d.name}`, d.ok, d.detail)}`;
        }
      }
      row(names[w], `${f0(v)} MiB/s${span(r[src][w], f0)}`, compared, t);
    }
  }
  const peak = median(r.memory);
  row(`${r.version}: memory while \`hashFile\` reads a ${bigLabel} disk-backed File (peak growth of the browser's processes' RSS, sampled every 100 ms)`,
    `${f0(peak / MiB)} MiB${span(r.memory, (x) => f0(x / MiB))}`, `${r.memory.length} run${r.memory.length > 1 ? "s" : ""} after a warm-up, a fresh page each`,
    target(`${label}: memory hashing ${bigLabel} ≤ 64 MiB`, peak <= 64 * MiB, `${f0(peak / MiB)} MiB`));
  if (r.upload) uploadRows(r, label, { row, section, target, mib });
  if (r.mismatches.length) row("**DIGEST MISMATCHES**", r.mismatches.join("; "));
}

/** The upload's rows: ours' total, its phases, the baseline, and the target. */
function uploadRows(r, label, { row, section, target, mib }) {
  const u = r.upload;
  const s2 = (ms) => (ms === null || !Number.isFinite(ms) ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
  const rate = (ms) => `${f0(mib / (ms / 1000))} MiB/s`;
  const total = median(u.ours.map((o) => o.total));
  const hash = median(u.ours.map((o) => o.hash));
  const phase = median(u.ours.map((o) => o.total - o.hash));
  const base = median(u.baseline);
  const fewer = u.runs < u.requested ? ` [${u.runs} run${u.runs > 1 ? "s" : ""}: time budget]` : "";
  section(`${r.version}: upload of ${mib} MiB (a disk-backed File) to vod-ugc-server on loopback, 1 MiB parts, 4 in flight${fewer}`);
  row("ours: total, `upload()` call to result", `${s2(total)}${span(u.ours.map((o) => o.total), s2)}`, rate(total),
    target(`${label}: upload total ≤ 1.2 × (hash phase + baseline)`, total <= 1.2 * (hash + base), `${f2(total / (hash + base))} ×`));
  row("ours: hash phase (\"hash\" stage reaches its total)", `${s2(hash)}${span(u.ours.map((o) => o.hash), s2)}`, rate(hash));
  row("ours: upload phase (hash done to result)", `${s2(phase)}${span(u.ours.map((o) => o.total - o.hash), s2)}`,
    `${rate(phase)}; ${f2(phase / base)} × baseline`);
  row("baseline: plain `fetch`, 4 in flight, MD5s precomputed: signature, Init, parts, Finish",
    `${s2(base)}${span(u.baseline, s2)}`, `${rate(base)}; ${u.baseline.length} run(s)`);
}
