// End-to-end: the demo page uploads through two vod-ugc-server instances
// that share one bucket of a real S3 API (moto_server), behind a small
// round-robin proxy written here: consecutive requests of one upload land
// on different instances, as behind any load balancer.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ROOT,
  checkPrerequisites,
  fetchBytes,
  launchBrowser,
  makeRandomFile,
  makeTempDir,
  openDemo,
  removeDir,
  screenshot,
  sha1,
  startServer,
} from "./helpers.mjs";

const MiB = 1024 * 1024;
const MOTO = process.env.MOTO_SERVER || path.join(ROOT, ".venv-moto/bin/moto_server");

async function freePort() {
  const server = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** moto_server on a free loopback port, with one bucket; stop() ends it. */
async function startMoto(bucket) {
  assert.ok(existsSync(MOTO), `${MOTO} is missing: run scripts/setup.sh`);
  const port = await freePort();
  const proc = spawn(MOTO, ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const up = await fetch(endpoint, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);
    if (up) break;
    if (i > 300) throw new Error("moto_server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const created = await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
  assert.ok(created.ok, `creating the bucket: HTTP ${created.status}`);
  return {
    env: {
      AWS_ENDPOINT: endpoint,
      AWS_ALLOW_HTTP: "true",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
    },
    stop: () => proc.kill("SIGTERM"),
  };
}

/**
 * A round-robin HTTP proxy on 127.0.0.1: request n goes to upstreams[n % k].
 * `seen` counts the protocol calls each upstream received, by Action.
 */
async function startProxy() {
  const upstreams = [];
  const seen = [];
  let next = 0;
  const server = http.createServer((req, res) => {
    const i = next++ % upstreams.length;
    const target = new URL(req.url, upstreams[i]);
    const action = target.searchParams.get("Action");
    if (action) seen[i][action] = (seen[i][action] || 0) + 1;
    const forward = http.request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    add(url) {
      upstreams.push(url);
      seen.push({});
    },
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

describe("two instances behind a round-robin proxy", () => {
  let browser;
  let workDir;
  let moto;
  let proxy;
  const servers = [];

  before(async () => {
    checkPrerequisites();
    workDir = await makeTempDir("instances");
    moto = await startMoto("e2e-instances");
    proxy = await startProxy();
    for (let i = 0; i < 2; i++) {
      const server = await startServer({
        storage: "s3://e2e-instances/ugc",
        env: moto.env,
        extraArgs: ["--public-url", proxy.url],
      });
      servers.push(server);
      proxy.add(server.url);
    }
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (proxy) await proxy.close();
    for (const server of servers) await server.stop();
    if (moto) moto.stop();
    await removeDir(workDir);
  });

  test("the demo uploads a file whose parts reach both instances, and its link serves the same bytes", { timeout: 180_000 }, async () => {
    const file = await makeRandomFile(workDir, "through-two.bin", 6 * MiB + 4321);
    const { context, page, problems } = await openDemo(browser, proxy.url);
    try {
      await page.setInputFiles("#file-input", file.path);
      const row = page.locator("#upload-list > li").first();
      await row.locator(".file-name").waitFor({ timeout: 5_000 });
      await page.waitForFunction(
        (el) => ["done", "failed", "cancelled"].includes(el.dataset.state),
        await row.elementHandle(),
        { timeout: 120_000, polling: 100 },
      );
      assert.equal(await row.getAttribute("data-state"), "done", await row.innerText());
      const href = await row.locator("a.file-url").getAttribute("href");
      assert.ok(href.startsWith(proxy.url + "/media/"), `the link goes through the proxy: ${href}`);
      const bytes = await fetchBytes(href);
      assert.equal(bytes.length, file.size);
      assert.equal(sha1(bytes), file.sha1, "served bytes have the file's SHA-1");
      await screenshot(page, "40-two-instances");

      // Both instances received parts of this one upload.
      for (const [i, seen] of proxy.seen.entries()) {
        assert.ok((seen.UploadPartUGC || 0) >= 1, `instance ${i} received parts: ${JSON.stringify(proxy.seen)}`);
      }
      const total = proxy.seen.reduce((n, s) => n + (s.UploadPartUGC || 0), 0);
      assert.equal(total, 7, `7 parts in all: ${JSON.stringify(proxy.seen)}`);

      // The same file again is an instant upload, whichever instance answers.
      await page.setInputFiles("#file-input", file.path);
      const second = page.locator("#upload-list > li").nth(1);
      await second.locator(".file-name").waitFor({ timeout: 5_000 });
      await page.waitForFunction((el) => el.dataset.state === "done" || el.dataset.state === "failed", await second.elementHandle(), { timeout: 60_000 });
      assert.match(await second.innerText(), /Instant/);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
