// End-to-end: the demo page (www/) with the built package (pkg/) in Debian's
// Chromium, against the real vod-ugc-server, as a person would use it.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  checkPrerequisites,
  fetchBytes,
  holdPartsAfter,
  launchBrowser,
  makeRandomFile,
  makeTempDir,
  openDemo,
  removeDir,
  screenshot,
  sha1,
  startServer,
  unreadableReasons,
} from "./helpers.mjs";

const MiB = 1024 * 1024;
const UPLOAD_TIMEOUT_MS = 90_000;
const TEST_TIMEOUT_MS = 180_000;

describe("demo page", () => {
  let browser;
  let workDir;
  let bigFile; // 12 MiB of random bytes
  const cleanups = [];

  before(async () => {
    checkPrerequisites();
    workDir = await makeTempDir("files");
    bigFile = await makeRandomFile(workDir, "e2e-random-12MiB.bin", 12 * MiB);
    browser = await launchBrowser();
  });

  after(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    if (browser) await browser.close();
    await removeDir(workDir);
  });

  /** A server with its own fresh data dir, stopped after the suite. */
  async function freshServer(name) {
    const dataDir = await makeTempDir(`data-${name}`);
    const server = await startServer({ dataDir });
    cleanups.push(async () => {
      await server.stop();
      await removeDir(dataDir);
    });
    return { server, dataDir };
  }

  function row(page, n) {
    return page.locator("#upload-list > li").nth(n);
  }

  /** Waits until the row reaches `state`; fails at once if it ends in another. */
  async function waitState(rowLocator, state, timeout = UPLOAD_TIMEOUT_MS) {
    const handle = await rowLocator.elementHandle({ timeout: 5_000 });
    await rowLocator.page().waitForFunction(
      ([el, want]) => el.dataset.state === want || ["done", "failed", "cancelled"].includes(el.dataset.state),
      [handle, state],
      { timeout, polling: 100 },
    );
    const got = await rowLocator.getAttribute("data-state");
    if (got !== state) {
      throw new Error(`the upload ended "${got}" instead of "${state}": ${await rowLocator.innerText()}`);
    }
  }

  async function assertServedBytes(rowLocator, expectedSha1) {
    const href = await rowLocator.locator("a.file-url").getAttribute("href");
    assert.ok(href && /^https?:\/\//.test(href), `the result shows a link, got ${href}`);
    const bytes = await fetchBytes(href);
    assert.equal(bytes.length, bigFile.size, "served length");
    assert.equal(sha1(bytes), expectedSha1, "served bytes have the file's SHA-1");
    return href;
  }

  test("a 12 MiB file picked with the file input uploads, and its link serves the same bytes", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server } = await freshServer("upload");
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      // Found by its label, as assistive technology finds it.
      await page.getByLabel("Choose files").setInputFiles(bigFile.path);
      const first = row(page, 0);
      await first.locator(".file-name").waitFor({ timeout: 5_000 });
      assert.equal(await first.locator(".file-name").innerText(), "e2e-random-12MiB.bin");
      await waitState(first, "done");

      const fileId = (await first.locator(".file-id").innerText()).trim();
      assert.match(fileId, /^\d+$/, "fileId is a decimal string");
      await assertServedBytes(first, bigFile.sha1);
      assert.match(await first.innerText(), /Fresh upload: 12 parts sent/);
      assert.equal(await first.locator("progress").evaluate((el) => el.value), 100);
      await screenshot(page, "01-uploaded");

      // The same file again: the server already has it (instant upload).
      await page.setInputFiles("#file-input", bigFile.path);
      const second = row(page, 1);
      await waitState(second, "done");
      assert.match(await second.innerText(), /Instant/);
      assert.equal((await second.locator(".file-id").innerText()).trim(), fileId, "same fileId for the same file");
      await screenshot(page, "02-instant");

      await page.setViewportSize({ width: 375, height: 800 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling at phone width (overflow ${overflow}px)`);
      await screenshot(page, "03-phone");
      // Every control has an accessible name.
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll("button, input, select, progress, a, video")]
          .filter((e) => !e.closest("template") && !e.hidden)
          .filter((e) => !(e.getAttribute("aria-label") || e.labels?.length || e.textContent.trim()))
          .map((e) => e.outerHTML.slice(0, 80)),
      );
      assert.deepEqual(unnamed, [], "controls without an accessible name");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("several picked files and a dropped file each upload in their own row", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server } = await freshServer("many");
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      const files = [];
      for (const [name, size] of [["one.bin", 1_500_000], ["two.txt", 10], ["three.bin", 2 * MiB + 7]]) {
        files.push(await makeRandomFile(workDir, name, size));
      }
      await page.setInputFiles("#file-input", files.map((f) => f.path));

      // Drop a file made in the page on the drop zone, as a drag from the desktop would.
      const dropped = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251));
      const dataTransfer = await page.evaluateHandle((b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.bin", { type: "application/octet-stream" }));
        return dt;
      }, dropped.toString("base64"));
      await page.dispatchEvent("#dropzone", "dragenter", { dataTransfer });
      await page.dispatchEvent("#dropzone", "dragover", { dataTransfer });
      await page.dispatchEvent("#dropzone", "drop", { dataTransfer });

      const expected = [...files.map((f) => ({ name: path.basename(f.path), sha1: f.sha1 })), { name: "dropped.bin", sha1: sha1(dropped) }];
      await page.locator("#upload-list > li").nth(expected.length - 1).waitFor({ timeout: 5_000 });
      assert.equal(await page.locator("#upload-list > li").count(), expected.length);
      for (const [i, want] of expected.entries()) {
        const r = row(page, i);
        await waitState(r, "done");
        assert.equal(await r.locator(".file-name").innerText(), want.name);
        const bytes = await fetchBytes(await r.locator("a.file-url").getAttribute("href"));
        assert.equal(sha1(bytes), want.sha1, `${want.name}: served bytes`);
      }
      await screenshot(page, "10-several-files");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("an uploaded video plays back in the preview from its url", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server } = await freshServer("video");
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      // A real WebM clip, recorded in the page from an animated canvas.
      const dataTransfer = await page.evaluateHandle(async () => {
        const canvas = Object.assign(document.createElement("canvas"), { width: 320, height: 180 });
        const g = canvas.getContext("2d");
        const recorder = new MediaRecorder(canvas.captureStream(25), { mimeType: "video/webm" });
        const chunks = [];
        recorder.ondataavailable = (e) => chunks.push(e.data);
        const stopped = new Promise((r) => { recorder.onstop = r; });
        recorder.start(100);
        const t0 = performance.now();
        await new Promise((done) => {
          const draw = () => {
            const t = performance.now() - t0;
            g.fillStyle = `hsl(${(t / 5) % 360} 70% 45%)`;
            g.fillRect(0, 0, 320, 180);
            g.fillStyle = "#fff";
            g.font = "28px sans-serif";
            g.fillText(`vod-ugc-upload ${(t / 1000).toFixed(1)} s`, 20, 100);
            if (t < 1200) requestAnimationFrame(draw); else done();
          };
          draw();
        });
        recorder.stop();
        await stopped;
        const dt = new DataTransfer();
        dt.items.add(new File(chunks, "clip.webm", { type: "video/webm" }));
        return dt;
      });
      await page.dispatchEvent("#dropzone", "drop", { dataTransfer });
      const r = row(page, 0);
      await waitState(r, "done");
      const video = r.locator("video.preview");
      await video.waitFor({ timeout: 5_000 });
      const src = await video.getAttribute("src");
      assert.equal(src, await r.locator("a.file-url").getAttribute("href"));
      // The browser read the clip's metadata through the server's url.
      await page.waitForFunction((el) => el.readyState >= 1 && el.videoWidth === 320, await video.elementHandle(), { timeout: 15_000 });
      await video.evaluate((el) => { el.currentTime = 0.5; });
      await page.waitForFunction((el) => el.readyState >= 2 && !el.seeking, await video.elementHandle(), { timeout: 15_000 });
      await screenshot(page, "11-video-preview");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("Cancel mid-upload, then Resume completes and skips the parts already stored", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server } = await freshServer("resume");
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      // The first 4 parts go through; later ones are held in flight, so the
      // cancel lands mid-upload whatever the machine's speed.
      const gate = await holdPartsAfter(page, 4);
      await page.setInputFiles("#file-input", bigFile.path);
      const r = row(page, 0);
      await Promise.all([gate.holding, gate.passedDone]);
      assert.equal(await r.getAttribute("data-state"), "running");
      await r.locator(".stage", { hasText: "Uploading" }).waitFor({ timeout: 10_000 });
      await screenshot(page, "04-mid-upload");

      await r.getByRole("button", { name: /^Cancel upload of/ }).click();
      await waitState(r, "cancelled", 15_000);
      assert.match(await r.innerText(), /Cancelled/);
      await screenshot(page, "05-cancelled");
      const stored = gate.answered();
      await gate.release();

      await r.getByRole("button", { name: /^Resume upload of/ }).click();
      await waitState(r, "done");
      const text = await r.innerText();
      const m = text.match(/Resumed: (\d+) parts? skipped, (\d+) sent/);
      assert.ok(m, `the result says parts were skipped: ${text}`);
      assert.equal(Number(m[1]), stored, "skipped exactly the parts the server answered before the cancel");
      assert.equal(Number(m[1]) + Number(m[2]), 12, "skipped + sent = all parts");
      await assertServedBytes(r, bigFile.sha1);
      await screenshot(page, "06-resumed");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a server stopped mid-upload gives a readable error; Retry after a restart completes", { timeout: TEST_TIMEOUT_MS }, async () => {
    const dataDir = await makeTempDir("data-crash");
    cleanups.push(() => removeDir(dataDir));
    let server = await startServer({ dataDir });
    cleanups.push(() => server.stop());
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      const gate = await holdPartsAfter(page, 3);
      await page.setInputFiles("#file-input", bigFile.path);
      const r = row(page, 0);
      await Promise.all([gate.holding, gate.passedDone]);

      await server.stop("SIGKILL"); // a crash, not a polite shutdown
      await gate.release(); // the held parts now meet a closed port
      await waitState(r, "failed", 90_000);

      const message = (await r.locator(".error-message").innerText()).trim();
      const hint = (await r.locator(".error-hint").innerText()).trim();
      const whole = await r.locator(".error").innerText();
      assert.deepEqual(unreadableReasons(whole), [], `readable error: ${whole}`);
      assert.ok(message.length > 10, `a real message: ${message}`);
      assert.match(hint, /server/i, `the hint says what to check: ${hint}`);
      assert.match(whole, /code -2000[345]/, `a client network code: ${whole}`);
      await r.getByRole("button", { name: /^Retry upload of/ }).waitFor({ timeout: 1_000 });
      await screenshot(page, "07-server-stopped");

      // Same address, same data: the stored parts survived the crash.
      server = await startServer({ dataDir, listen: server.address });
      await r.getByRole("button", { name: /^Retry upload of/ }).click();
      await waitState(r, "done");
      const m = (await r.innerText()).match(/Resumed: (\d+) parts? skipped/);
      assert.ok(m && Number(m[1]) >= 3, `the retry skipped the parts stored before the crash: ${await r.innerText()}`);
      await assertServedBytes(r, bigFile.sha1);
      await screenshot(page, "08-retried-after-restart");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test("a server stopped before the upload gives a readable error", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { server } = await freshServer("down");
    const { context, page, problems } = await openDemo(browser, server.url);
    try {
      await server.stop();
      const small = await makeRandomFile(workDir, "small-file.bin", 300 * 1024);
      await page.setInputFiles("#file-input", small.path);
      const r = row(page, 0);
      await waitState(r, "failed", 90_000);
      const whole = await r.locator(".error").innerText();
      assert.deepEqual(unreadableReasons(whole), [], `readable error: ${whole}`);
      assert.ok((await r.locator(".error-message").innerText()).trim().length > 10);
      assert.ok((await r.locator(".error-hint").innerText()).trim().length > 10);
      await screenshot(page, "09-server-down");
      assert.deepEqual(problems, []);
      // The page itself stays usable: the file input still works.
      assert.equal(await page.locator("#file-input").isEnabled(), true);
    } finally {
      await context.close();
    }
  });
});
