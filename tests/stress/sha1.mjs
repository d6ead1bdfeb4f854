#!/usr/bin/env node
// Stress test of hashFile's SHA-1 in a real browser (diagnosis of the
// WebKit flake, issue 10 item 5; see docs/webkit-sha1.md). Not part of
// `npm test`: it runs for minutes.
//
//   node tests/stress/sha1.mjs --pkg DIR [--engine webkit|firefox]
//        [--rounds N] [--mib 48,24] [--ways worker,worker-poison,page]
//        [--env NAME=VALUE ...] [--page min]
//
// Each round loads the page afresh (a new wasm instance, compiled and
// tiered up again) and hashes Blobs of the given sizes, each way, checking
// every digest against WebCrypto. `--pkg` is a package built by
// `wasm-pack build --target web` (debug or release); `--env` reaches the
// browser's processes (e.g. JSC_useOMGJIT=false). `--page min` runs the
// minimal case instead (www/min.js: the SHA-1 alone in a raw module,
// `--pkg` then holds sha1_min.wasm, built from tests/stress/sha1-min).
// Prints every mismatch
// and a summary; exits 1 when any digest was wrong.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startSession } from "../../bench/webdriver.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const opts = { page: "index", engine: "webkit", rounds: 20, mib: [48, 24], ways: ["worker", "worker-poison", "page"], env: {} };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const value = () => argv[++i];
  switch (argv[i]) {
    case "--pkg": opts.pkg = path.resolve(value()); break;
    case "--engine": opts.engine = value(); break;
    case "--page": opts.page = value(); break;
    case "--rounds": opts.rounds = Number(value()); break;
    case "--mib": opts.mib = value().split(",").map(Number); break;
    case "--ways": opts.ways = value().split(","); break;
    case "--env": { const [k, ...v] = value().split("="); opts.env[k] = v.join("="); break; }
    default: throw new Error(`unknown option ${argv[i]}`);
  }
}
if (!opts.pkg) throw new Error("--pkg DIR is required");

const data = await mkdtemp(path.join(os.tmpdir(), "vod-ugc-stress-"));
const server = spawn(path.join(ROOT, "target/release/vod-ugc-server"), ["--listen", "127.0.0.1:0", "--data", data,
  "--www", path.join(ROOT, "tests/stress/www"), "--pkg", opts.pkg, "--secret-id", "s", "--secret-key", "k"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } });
const url = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1].replace(/\/$/, ""));
  });
  server.once("exit", () => reject(new Error("the server exited")));
});
const driver = await startSession(opts.engine, opts.env);
const tally = {};
let wrong = 0;
try {
  console.log(`${driver.session.version}, pkg ${opts.pkg}, env ${JSON.stringify(opts.env)}`);
  for (let round = 0; round < opts.rounds; round++) {
    await driver.session.goto(`${url}/${opts.page}.html`);
    await driver.session.run(`async () => {
      for (let i = 0; !document.body?.dataset.ready; i++) {
        if (i > 600) throw new Error("the page did not load the module in 30 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    }`);
    // The first Blob of each round is hashed by a different way first.
    const ways = opts.ways.map((_, i) => opts.ways[(i + round) % opts.ways.length]);
    const sizes = opts.mib.map((m) => m * 1048576 + round * 4099);
    const results = await driver.session.run(`(args) => window.stress(args)`, { seed: round + 1, sizes, ways });
    for (const [i, r] of results.entries()) {
      const t = (tally[r.way] ??= { runs: 0, wrong: 0, firstWrong: 0, ms: 0 });
      t.runs++;
      t.ms += r.ms;
      if (!r.ok) {
        wrong++;
        t.wrong++;
        if (i === 0) t.firstWrong++;
        console.log(`round ${round + 1}: WRONG ${r.way} ${r.size} B${i === 0 ? " (first input of the page)" : ""}: ${r.ours} != ${r.expected}`);
      }
    }
    process.stdout.write(`round ${round + 1}/${opts.rounds}: ${results.filter((r) => !r.ok).length} wrong of ${results.length}\n`);
  }
} finally {
  await driver.stop();
  server.kill();
  await rm(data, { recursive: true, force: true });
}
for (const [way, t] of Object.entries(tally)) {
  console.log(`${way}: ${t.wrong} wrong of ${t.runs} (${t.firstWrong} as a page's first input), ${(t.ms / t.runs).toFixed(0)} ms per hash`);
}
process.exitCode = wrong ? 1 : 0;
