// The module on networks that are not loopback-fast, in Chromium, whose
// network emulation (DevTools' Network.emulateNetworkConditions, over
// Playwright's CDP session) throttles the uplink, adds latency and goes
// offline, against the real vod-ugc-server: progress inside parts, the stall
// limit, offline waits, expiring signatures.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import {
  checkPrerequisites,
  fetchBytes,
  launchBrowser,
  makeTempDir,
  removeDir,
  sha1,
  startServer,
} from "../e2e/helpers.mjs";

const KiB = 1024;
const MiB = 1024 * KiB;

let server;
let browser;
let dataDir;

before(async () => {
  checkPrerequisites();
  dataDir = await makeTempDir("network");
  server = await startServer({ dataDir });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await removeDir(dataDir);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A page of the server with the module loaded, its CDP session, and the
 * upload progress reports as they come (for steering the network).
 */
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const reports = [];
  const waiters = [];
  await page.exposeFunction("reportProgress", (p) => {
    reports.push(p);
    for (const w of waiters.splice(0)) if (!w.check(p)) waiters.push(w); else w.resolve(p);
  });
  await page.goto(`${server.url}/`, { timeout: 15_000 });
  await page.evaluate(async () => {
    const module = await import("/pkg/vod_ugc_upload.js");
    await module.default();
    window.ugc = module;
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const conditions = (c) => cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1, ...c,
  });
  return {
    page,
    /** Throttles the uplink to `bytesPerSecond`, with `latency` ms. */
    throttle: (bytesPerSecond, latency = 0) => conditions({ uploadThroughput: bytesPerSecond, latency }),
    offline: () => conditions({ offline: true, latency: 0 }),
    /** Resolves with the first report (already seen or to come) that passes `check`. */
    progress(check) {
      const seen = reports.find(check);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ check, resolve }));
    },
    close: () => context.close(),
  };
}

/**
 * Uploads `size` random bytes from the page. `ttls[i]` makes the dev signer
 * sign call i for that many seconds; with `holdLastSignature`, the last
 * ttl'd signature is handed over only once it has expired; with
 * `offlineInFirstSignature`, the first call awaits the page's goOffline()
 * before it fetches its signature. Each call records `navigator.onLine`.
 * Resolves with
 * what happened, the reports (with page time `t`) and getSignature's calls.
 */
function uploadInPage(page, { size, endpoint = `${server.url}/v2/index.php`, options = {}, ttls = [], holdLastSignature = false, offlineInFirstSignature = false }) {
  return page.evaluate(async ({ size, endpoint, options, ttls, holdLastSignature, offlineInFirstSignature }) => {
    const data = new Uint8Array(size);
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
    const file = new File([data], `network-${size}.bin`);
    const events = [];
    const calls = [];
    const controller = new AbortController();
    let abortedAt = null;
    window.abortUpload = () => {
      abortedAt = performance.now();
      controller.abort();
    };
    const getSignature = async (info) => {
      calls.push({ ...info, online: navigator.onLine });
      // The network goes as getSignature starts (window.goOffline: the test's).
      if (offlineInFirstSignature && calls.length === 1) await window.goOffline();
      const ttl = ttls[calls.length - 1];
      const query = new URLSearchParams({ f: info.f, ft: info.ft, fs: info.fs, ...(ttl ? { ttl: String(ttl) } : {}) });
      const signature = (await (await fetch(`/signature?${query}`)).json()).signature;
      if (ttl && holdLastSignature && calls.length === ttls.length) {
        const e = Number(new URLSearchParams(atob(signature).slice(20)).get("e"));
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, (e + 1) * 1000 + 50 - Date.now())));
      }
      return signature;
    };
    const started = performance.now();
    const onProgress = (p) => {
      events.push({ ...p, t: performance.now() });
      window.reportProgress({ ...p });
    };
    const done = (rest) => ({ ...rest, events, calls, elapsed: performance.now() - started });
    try {
      const result = await window.ugc.upload(file, { getSignature, endpoint, signal: controller.signal, onProgress, ...options });
      const digest = await crypto.subtle.digest("SHA-1", data);
      const sha = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      return done({ result, sha });
    } catch (e) {
      const error = { name: e.name, code: e.code, stage: e.stage, message: e.message };
      return done({ error, abortDelay: abortedAt === null ? null : performance.now() - abortedAt });
    }
  }, { size, endpoint, options, ttls, holdLastSignature, offlineInFirstSignature });
}

/** The upload succeeded and the server serves exactly the bytes sent. */
async function assertByteExact(outcome) {
  assert.equal(outcome.error, undefined, `upload failed: ${JSON.stringify(outcome.error)}`);
  assert.equal(outcome.result.fileSha, outcome.sha, "fileSha is the SHA-1 of the bytes");
  const served = await fetchBytes(outcome.result.url);
  assert.equal(sha1(served), outcome.sha, "the served file is the bytes sent");
}

test("a 24 KiB/s uplink with 150 ms latency: 2 MiB completes with default options, progress moving inside parts", { timeout: 240_000 }, async () => {
  const net = await openPage();
  try {
    await net.throttle(24 * KiB, 150);
    const outcome = await uploadInPage(net.page, { size: 2 * MiB });
    await assertByteExact(outcome);
    const upload = outcome.events.filter((e) => e.stage === "upload");
    let longest = 0;
    for (let i = 1; i < upload.length; i++) longest = Math.max(longest, upload[i].t - upload[i - 1].t);
    const inside = upload.filter((e) => e.loaded % MiB !== 0).length;
    console.log(`# 2 MiB at 24 KiB/s: ${(outcome.elapsed / 1000).toFixed(1)} s, ${upload.length} upload reports, ${inside} inside parts, longest gap ${(longest / 1000).toFixed(2)} s`);
    assert.ok(outcome.elapsed > 60_000, "the throttle applied: longer than the old 60 s limit of a whole part");
    assert.ok(longest < 5_000, `longest gap between upload reports ${longest} ms`);
    assert.ok(inside >= 10, `reports inside parts (${inside})`);
    for (let i = 1; i < upload.length; i++) assert.ok(upload[i].loaded >= upload[i - 1].loaded, "monotonic");
    assert.ok(upload.every((e) => e.waiting === null), "nothing waited");
  } finally {
    await net.close();
  }
});

test("offline for 25 s in the middle of an 8 MiB upload: it waits, then completes by itself", { timeout: 180_000 }, async () => {
  const net = await openPage();
  try {
    await net.throttle(512 * KiB);
    const pending = uploadInPage(net.page, { size: 8 * MiB });
    await net.progress((p) => p.stage === "upload" && p.loaded >= 2 * MiB);
    await net.offline();
    const waiting = await Promise.race([
      net.progress((p) => p.waiting === "offline"),
      sleep(10_000).then(() => null),
    ]);
    assert.ok(waiting, "waiting: offline reported within 10 s of going offline");
    await sleep(25_000);
    await net.throttle(512 * KiB);
    const outcome = await pending;
    await assertByteExact(outcome);
    const waits = outcome.events.map((e) => e.waiting);
    const offlineAt = waits.indexOf("offline");
    assert.ok(offlineAt >= 0, "waiting: offline reported");
    assert.ok(waits.slice(offlineAt).includes(null), "and null once back");
    assert.ok(outcome.elapsed > 25_000, "it did wait");
    console.log(`# 8 MiB with 25 s offline: ${(outcome.elapsed / 1000).toFixed(1)} s, waiting seen: ${[...new Set(waits)].map(String).join(", ")}`);
  } finally {
    await net.close();
  }
});

test("an upload started offline: getSignature waits for the network, then it completes by itself", { timeout: 60_000 }, async () => {
  const net = await openPage();
  try {
    await net.offline();
    const pending = uploadInPage(net.page, { size: 3 * MiB });
    await net.progress((p) => p.stage === "hash" && p.loaded === p.total);
    await net.progress((p) => p.waiting === "offline");
    await sleep(3_000);
    await net.throttle(-1);
    const outcome = await pending;
    await assertByteExact(outcome);
    assert.deepEqual(outcome.calls.map((c) => c.online), [true], "getSignature called once, once online");
    assert.ok(outcome.elapsed > 3_000, "it did wait");
  } finally {
    await net.close();
  }
});

test("getSignature failing as the network goes: asked again once it is back, and the upload completes", { timeout: 60_000 }, async () => {
  const net = await openPage();
  try {
    let offlineSince = null;
    await net.page.exposeFunction("goOffline", async () => {
      await net.offline();
      offlineSince = Date.now();
    });
    const pending = uploadInPage(net.page, { size: 3 * MiB, offlineInFirstSignature: true });
    await net.progress((p) => p.waiting === "offline");
    await sleep(2_000);
    await net.throttle(-1);
    const outcome = await pending;
    await assertByteExact(outcome);
    assert.ok(offlineSince !== null, "the network went as getSignature started");
    assert.equal(outcome.calls.length, 2, "asked again once, with the same info");
    assert.deepEqual(outcome.calls[1], outcome.calls[0]);
  } finally {
    await net.close();
  }
});

test("a signature that expires after 4 s, an upload taking longer: renewed once with the same info", { timeout: 120_000 }, async () => {
  const net = await openPage();
  try {
    await net.throttle(256 * KiB);
    const outcome = await uploadInPage(net.page, {
      size: 3 * MiB,
      ttls: [4],
      options: { partSize: 524288, concurrency: 2 },
    });
    await assertByteExact(outcome);
    assert.ok(outcome.elapsed > 6_000, `the upload outlived the signature (${outcome.elapsed} ms)`);
    assert.equal(outcome.calls.length, 2, "getSignature called exactly twice");
    assert.deepEqual(outcome.calls[1], outcome.calls[0], "with the same info");
    assert.equal(outcome.calls[0].fs, outcome.sha);
  } finally {
    await net.close();
  }
});

test("a renewed signature that has expired too: -10002, no third call, no hang", { timeout: 120_000 }, async () => {
  const net = await openPage();
  try {
    await net.throttle(256 * KiB);
    const outcome = await uploadInPage(net.page, {
      size: 2 * MiB,
      ttls: [4, 1],
      holdLastSignature: true,
      options: { partSize: 524288, concurrency: 2 },
    });
    assert.equal(outcome.error?.name, "UgcError", JSON.stringify(outcome.error));
    assert.equal(outcome.error.code, -10002);
    assert.equal(outcome.calls.length, 2, "no third call");
    assert.ok(outcome.elapsed < 30_000, `ended in ${outcome.elapsed} ms`);
  } finally {
    await net.close();
  }
});

/**
 * A server in front of the real one that takes every part's body and never
 * answers; everything else (and CORS preflights) passes.
 */
async function startSwallowingProxy() {
  const sockets = new Set();
  const proxy = http.createServer(async (req, res) => {
    res.setHeader("access-control-allow-origin", "*");
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": req.headers["access-control-request-headers"] || "*",
      });
      res.end();
      return;
    }
    if (new URL(req.url, "http://x").searchParams.get("Action") === "UploadPartUGC") {
      req.resume(); // read the body, answer never
      return;
    }
    const answer = await fetch(server.url + req.url);
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") || "application/json" });
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  proxy.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${proxy.address().port}/v2/index.php`,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => proxy.close(resolve));
    },
  };
}

test("a server that takes the body and never answers: -20004 after the retries, within their stall limits", { timeout: 60_000 }, async () => {
  const net = await openPage();
  const proxy = await startSwallowingProxy();
  try {
    const options = { timeoutMs: 1500, retries: 2, retryDelayMs: 100 };
    const outcome = await uploadInPage(net.page, { size: 300 * KiB, endpoint: proxy.endpoint, options });
    assert.deepEqual(
      [outcome.error?.name, outcome.error?.code, outcome.error?.stage],
      ["UgcError", -20004, "part"],
      JSON.stringify(outcome.error),
    );
    const tries = options.retries + 1;
    // Backoff: full jitter below 100 ms, then 200 ms.
    const bound = tries * options.timeoutMs + 300;
    console.log(`# stalled part: -20004 after ${(outcome.elapsed / 1000).toFixed(2)} s (bound ${bound / 1000} s + hashing and signing)`);
    assert.ok(outcome.elapsed >= tries * options.timeoutMs, `${outcome.elapsed} ms: every try waited its limit`);
    assert.ok(outcome.elapsed < bound + 1000, `${outcome.elapsed} ms, bound ${bound} ms`);
  } finally {
    await proxy.close();
    await net.close();
  }
});

test("abort while waiting offline: an AbortError at once", { timeout: 60_000 }, async () => {
  const net = await openPage();
  try {
    await net.throttle(256 * KiB);
    const pending = uploadInPage(net.page, { size: 4 * MiB });
    await net.progress((p) => p.stage === "upload" && p.loaded >= 512 * KiB);
    await net.offline();
    await net.progress((p) => p.waiting === "offline");
    await sleep(1_000);
    await net.page.evaluate(() => window.abortUpload());
    const outcome = await pending;
    assert.equal(outcome.error?.name, "AbortError", JSON.stringify(outcome.error));
    assert.ok(outcome.abortDelay < 500, `rejected ${outcome.abortDelay} ms after the abort`);
  } finally {
    await net.close();
  }
});
