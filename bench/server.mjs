// The server section of `npm run bench` (`--only server`): how fast
// vod-ugc-server receives uploads from a native client, against the disk's
// own sequential write speed (`npm run bench -- --only server`).
//
// Load: UPLOADS uploads of `mib` MiB at once, each with IN_FLIGHT parts of
// 1 MiB in flight (the package's defaults), from a native client
// (bench/load, `vod-ugc-load`: one thread, keep-alive HTTP/1.1, every answer
// checked): InitUploadUGC, every part, FinishUploadUGC, with MD5s and
// SHA-1s computed beforehand (outside the timed region). The files share
// their bytes but for the first 16, new in every run (the server would
// otherwise answer "instant upload"). It was Node's http client until
// 2 December 2026, which took 0.5 to 0.9 s of CPU per GiB sent, on the
// 2 cores the server needs (BENCHMARKS.md).
// Ceiling: the same bytes written to the same disk (the server's --data
// folder) sequentially, in 1 MiB writes and an fsync per file, as
// `dd bs=1M conv=fsync` would, one file after the other.

import { spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { once } from "node:events";
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { loadavg } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

const MiB = 1 << 20;
export const UPLOADS = 4;
export const IN_FLIGHT = 4;
/** Target of issue 13: received MiB/s ≥ this × the ceiling. */
export const TARGET_RATIO = 0.7;

/**
 * The load generator (bench/load, `vod-ugc-load`), started once per
 * section: `run()` makes it do one run and resolves to what it measured.
 */
function startLoad(loadBin, baseUrl, pid, mib) {
  const proc = spawn(loadBin, ["--addr", new URL(baseUrl).host, "--mib", String(mib), "--server-pid", String(pid)],
    { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const exited = once(proc, "exit");
  return {
    async run() {
      proc.stdin.write("run\n");
      const { value, done } = await Promise.race([lines.next(),
        exited.then(([code, signal]) => { throw new Error(`vod-ugc-load exited (${code ?? signal})`); })]);
      if (done) throw new Error("vod-ugc-load closed its output");
      const { receiveMs, finishMs, serverCpu, clientCpu } = JSON.parse(value);
      return { receive: receiveMs, finish: finishMs, cpu: serverCpu, clientCpu };
    },
    async stop() {
      proc.stdin.end();
      await exited;
    },
  };
}

/** The ceiling: each file's bytes written in 1 MiB writes, fsync, close. */
function ddRun(dir, shared) {
  const t0 = performance.now();
  Array.from({ length: UPLOADS }, (_, i) => {
    const fd = openSync(path.join(dir, `dd-${i}.bin`), "w");
    try {
      for (let p = 0; p < shared.length; p += MiB) writeSync(fd, shared.subarray(p, p + MiB));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
  return performance.now() - t0;
}

/**
 * Runs the section: `startServer()` starts vod-ugc-server with the dev
 * signer on `dataDir`, `loadBin` is the load generator; `runs` timed runs
 * after one warm-up, load and ceiling taking turns. Returns MiB/s per run.
 */
export async function measureServer({ startServer, loadBin, dataDir, runs, mib, log }) {
  const size = mib * MiB;
  const shared = randomFillSync(Buffer.allocUnsafe(size));
  const md5Start = performance.now();
  for (let i = 0; i < mib; i++) createHash("md5").update(shared.subarray(i * MiB, (i + 1) * MiB)).digest();
  const md5MiBps = mib / ((performance.now() - md5Start) / 1000);
  const total = UPLOADS * size;
  const out = { uploads: UPLOADS, inFlight: IN_FLIGHT, mib, md5MiBps, received: [], withFinish: [], ceiling: [], cpuPerGiB: [], clientCpuPerGiB: [] };
  const server = await startServer();
  const load = startLoad(loadBin, server.url, server.pid, mib);
  try {
    for (let run = -1; run < runs; run++) {
      const dd = ddRun(dataDir, shared);
      await Promise.all(Array.from({ length: UPLOADS }, (_, i) => rm(path.join(dataDir, `dd-${i}.bin`), { force: true })));
      const { receive, finish, cpu, clientCpu } = await load.run();
      const media = path.join(dataDir, "media");
      for (const entry of await readdir(media)) await rm(path.join(media, entry), { recursive: true, force: true });
      const mibps = (ms) => total / MiB / (ms / 1000);
      log(`server run ${run < 0 ? "warm-up" : run + 1}: received ${mibps(receive).toFixed(0)} MiB/s ` +
        `(${mibps(receive + finish).toFixed(0)} with Finish), ceiling ${mibps(dd).toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s, client CPU ${clientCpu.toFixed(2)} s, load ${loadavg()[0].toFixed(1)}`);
      if (run < 0) continue;
      out.received.push(mibps(receive));
      out.withFinish.push(mibps(receive + finish));
      out.ceiling.push(mibps(dd));
      out.cpuPerGiB.push(cpu / (total / 2 ** 30));
      out.clientCpuPerGiB.push(clientCpu / (total / 2 ** 30));
    }
  } finally {
    await load.stop();
    await server.stop();
  }
  return out;
}

/** The section's rows in the bench table. */
export function serverRows(s, { row, section, target, median, range, fmt, ratio }) {
  const mibps = (xs) => `${fmt(median(xs))} MiB/s${range(xs, (x) => fmt(x))}`;
  const received = median(s.received);
  const ceiling = median(s.ceiling);
  // Each run's load and ceiling are measured back to back, under the same
  // conditions: the median of their ratios holds better than the ratio of
  // medians on a shared machine.
  const ratios = s.received.map((r, i) => r / s.ceiling[i]);
  const runRatio = median(ratios);
  section(`vod-ugc-server: ${s.uploads} uploads of ${s.mib} MiB at once from a native client (vod-ugc-load: Rust, one thread, keep-alive), 1 MiB parts, ${s.inFlight} in flight each, loopback`);
  row("received: first InitUploadUGC to the last part's answer (every part fsynced before its answer)", mibps(s.received),
    `${ratio(runRatio)} ceiling: median of the runs' ratios${range(ratios, ratio)}`,
    target(`received ≥ ${TARGET_RATIO} × ceiling`, runRatio >= TARGET_RATIO, ratio(runRatio)));
  row("server CPU (user + system) while receiving, per GiB", `${fmt(median(s.cpuPerGiB), 2)} s${range(s.cpuPerGiB, (x) => fmt(x, 2))}`,
    "the server's own work (MD5, socket reads, part writes, fsyncs); less sensitive to other load than MiB/s");
  row("client CPU (user + system) while sending, per GiB", `${fmt(median(s.clientCpuPerGiB), 2)} s${range(s.clientCpuPerGiB, (x) => fmt(x, 2))}`,
    "the load generator's share of the same 2 cores (sending over loopback)");
  row("the same with FinishUploadUGC (assembly, SHA-1, publish)", mibps(s.withFinish), `${ratio(median(s.withFinish) / ceiling)} ceiling`);
  row("reference: MD5 of the same bytes on one core (Node's OpenSSL), before the runs", `${fmt(s.md5MiBps)} MiB/s`,
    "every part's MD5 is checked before it is answered (beside its write and sync); the server hashes up to eight parts at once (AVX2 or AVX-512 lanes, chosen at run time; four with SSE2), for the price of one");
  row("ceiling: the same bytes written to the same disk, 1 MiB writes, fsync per file (`dd bs=1M conv=fsync`), one file after another", mibps(s.ceiling));
}
