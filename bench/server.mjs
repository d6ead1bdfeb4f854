// The server section of `npm run bench` (`--only server`): how fast
// vod-ugc-server receives uploads from a native client, against the disk's
// own sequential write speed (`npm run bench -- --only server`).
//
// Load: UPLOADS uploads of `mib` MiB at once, each with IN_FLIGHT parts of
// 1 MiB in flight (the package's defaults), from Node's http client with
// keep-alive: InitUploadUGC, every part, FinishUploadUGC, with MD5s and
// SHA-1s computed beforehand (outside the timed region). The files share
// their bytes but for the first 16, new in every run (the server would
// otherwise answer "instant upload").
// Ceiling: the same bytes written to the same disk (the server's --data
// folder) sequentially, in 1 MiB writes and an fsync per file, as
// `dd bs=1M conv=fsync` would, one file after the other.

import { createHash, randomFillSync } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import http from "node:http";
import path from "node:path";

const MiB = 1 << 20;
export const UPLOADS = 4;
export const IN_FLIGHT = 4;
/** Target of issue 13: received MiB/s ≥ this × the ceiling. */
export const TARGET_RATIO = 0.7;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

/** One HTTP request; resolves to the parsed JSON answer. */
function request(agent, url, method, body) {
  return new Promise((resolve, reject) => {
    const headers = body ? { "content-type": "application/octet-stream", "content-length": body.length } : {};
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new Error(`${method} ${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
        }
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** The files of one run: shared bytes, a fresh head each, hashes precomputed. */
function prepare(shared, partMd5s) {
  return Array.from({ length: UPLOADS }, () => {
    const first = Buffer.from(shared.subarray(0, MiB));
    randomFillSync(first, 0, 16);
    const sha = createHash("sha1").update(first).update(shared.subarray(MiB)).digest("hex");
    const md5s = [createHash("md5").update(first).digest("hex"), ...partMd5s.slice(1)];
    const part = (i) => (i === 0 ? first : shared.subarray(i * MiB, (i + 1) * MiB));
    return { sha, md5s, part, count: partMd5s.length };
  });
}

async function expectCode(answer, code, what) {
  if (answer.code !== code) throw new Error(`${what}: ${JSON.stringify(answer)}`);
  return answer;
}

/**
 * One run of the load: returns the receive time and the finish time (ms),
 * and the server's CPU seconds while receiving.
 */
async function loadRun(baseUrl, pid, files, size) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: UPLOADS * IN_FLIGHT });
  const ep = `${baseUrl}/v2/index.php`;
  try {
    const sigs = await Promise.all(files.map(async (f) => {
      const { signature } = await new Promise((resolve, reject) => {
        http.get(`${baseUrl}/signature?f=load&ft=bin&fs=${f.sha}&uid=1`, { agent }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve(JSON.parse(text)));
        }).on("error", reject);
      });
      return encodeURIComponent(signature);
    }));
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    await Promise.all(files.map(async (f, i) =>
      expectCode(await request(agent, `${ep}?Action=InitUploadUGC&fileSha=${f.sha}&fileSize=${size}&dataSize=${MiB}&signature=${sigs[i]}`, "GET"), 0, "init")));
    await Promise.all(files.map(async (f, i) => {
      let next = 0;
      const worker = async () => {
        while (next < f.count) {
          const p = next++;
          const url = `${ep}?Action=UploadPartUGC&fileSha=${f.sha}&offset=${p * MiB}&dataSize=${MiB}&dataMd5=${f.md5s[p]}&signature=${sigs[i]}`;
          await expectCode(await request(agent, url, "POST", f.part(p)), 0, `part ${p}`);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    }));
    const t1 = performance.now();
    const cpu = cpuSeconds(pid) - cpu0;
    await Promise.all(files.map(async (f, i) =>
      expectCode(await request(agent, `${ep}?Action=FinishUploadUGC&fileSha=${f.sha}&signature=${sigs[i]}`, "GET"), 0, "finish")));
    const t2 = performance.now();
    return { receive: t1 - t0, finish: t2 - t1, cpu };
  } finally {
    agent.destroy();
  }
}

/** The ceiling: each file's bytes written in 1 MiB writes, fsync, close. */
function ddRun(dir, files) {
  const t0 = performance.now();
  files.forEach((f, i) => {
    const fd = openSync(path.join(dir, `dd-${i}.bin`), "w");
    try {
      for (let p = 0; p < f.count; p++) writeSync(fd, f.part(p));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  });
  return performance.now() - t0;
}

/**
 * Runs the section: `startServer()` starts vod-ugc-server with the dev
 * signer on `dataDir`; `runs` timed runs after one warm-up, load and
 * ceiling taking turns. Returns MiB/s per run.
 */
export async function measureServer({ startServer, dataDir, runs, mib, log }) {
  const size = mib * MiB;
  const shared = randomFillSync(Buffer.allocUnsafe(size));
  const md5Start = performance.now();
  const partMd5s = Array.from({ length: mib }, (_, i) => createHash("md5").update(shared.subarray(i * MiB, (i + 1) * MiB)).digest("hex"));
  const md5MiBps = mib / ((performance.now() - md5Start) / 1000);
  const total = UPLOADS * size;
  const out = { uploads: UPLOADS, inFlight: IN_FLIGHT, mib, md5MiBps, received: [], withFinish: [], ceiling: [], cpuPerGiB: [] };
  const server = await startServer();
  try {
    for (let run = -1; run < runs; run++) {
      const files = prepare(shared, partMd5s);
      const dd = ddRun(dataDir, files);
      await Promise.all(files.map((_, i) => rm(path.join(dataDir, `dd-${i}.bin`), { force: true })));
      const { receive, finish, cpu } = await loadRun(server.url, server.pid, files, size);
      const media = path.join(dataDir, "media");
      for (const entry of await readdir(media)) await rm(path.join(media, entry), { recursive: true, force: true });
      const mibps = (ms) => total / MiB / (ms / 1000);
      log(`server run ${run < 0 ? "warm-up" : run + 1}: received ${mibps(receive).toFixed(0)} MiB/s ` +
        `(${mibps(receive + finish).toFixed(0)} with Finish), ceiling ${mibps(dd).toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s`);
      if (run < 0) continue;
      out.received.push(mibps(receive));
      out.withFinish.push(mibps(receive + finish));
      out.ceiling.push(mibps(dd));
      out.cpuPerGiB.push(cpu / (total / 2 ** 30));
    }
  } finally {
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
  section(`vod-ugc-server: ${s.uploads} uploads of ${s.mib} MiB at once from a native client (Node http, keep-alive), 1 MiB parts, ${s.inFlight} in flight each, loopback`);
  row("received: first InitUploadUGC to the last part's answer (every part fsynced before its answer)", mibps(s.received),
    `${ratio(runRatio)} ceiling: median of the runs' ratios${range(ratios, ratio)}`,
    target(`received ≥ ${TARGET_RATIO} × ceiling`, runRatio >= TARGET_RATIO, ratio(runRatio)));
  row("server CPU (user + system) while receiving, per GiB", `${fmt(median(s.cpuPerGiB), 2)} s${range(s.cpuPerGiB, (x) => fmt(x, 2))}`,
    "the server's own work (MD5, socket reads, temp files, fsyncs); less sensitive to other load than MiB/s");
  row("the same with FinishUploadUGC (assembly, SHA-1, publish)", mibps(s.withFinish), `${ratio(median(s.withFinish) / ceiling)} ceiling`);
  row("reference: MD5 of the same bytes on one core (Node's OpenSSL), before the runs", `${fmt(s.md5MiBps)} MiB/s`,
    "every part's MD5 is checked before it is stored; the server hashes four parts at once (SSE2 lanes), about 3 × one core's scalar MD5");
  row("ceiling: the same bytes written to the same disk, 1 MiB writes, fsync per file (`dd bs=1M conv=fsync`), one file after another", mibps(s.ceiling));
}
