// End-to-end: a disk file that becomes unreadable after it was hashed, as
// its parts are sent (changed or deleted on disk; Chromium then fails the
// part's request as a network error, saying nothing of the body). The
// upload fails at once with -20006 (stage "part", not retryable), not as a
// network failure after all retries; picked again, it resumes and uploads.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { openApiPage } from "./api-page.mjs";
import { API_PAGE, checkPrerequisites, fetchBytes, launchBrowser, makeTempDir, removeDir, sha1, startServer } from "./helpers.mjs";

const MiB = 1024 * 1024;
const SIZE = 6 * MiB + 123;
const TEST_TIMEOUT_MS = 120_000;

describe("a file that becomes unreadable while its parts are sent", () => {
  let browser;
  let server;
  let page;
  let workDir;
  let dataDir;
  /** What getSignature does to the file on disk, once it was hashed. */
  let spoil = () => {};

  before(async () => {
    checkPrerequisites();
    workDir = await makeTempDir("unreadable");
    dataDir = await makeTempDir("unreadable-data");
    server = await startServer({ dataDir, www: API_PAGE });
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
    await page.exposeFunction("spoilPicked", () => spoil());
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    await removeDir(workDir);
    await removeDir(dataDir);
  });

  /**
   * Picks `file` and uploads it (one retry, a short backoff: a network
   * failure would end in about a second); getSignature first calls the
   * page's spoilPicked() when `spoiled`. Resolves to {result} or {error}.
   */
  async function upload(file, spoiled) {
    await openApiPage(page, server.url);
    await page.setInputFiles("#file", file);
    return page.evaluate(async (spoiled) => {
      const file = document.getElementById("file").files[0];
      try {
        const result = await window.ugc.upload(file, {
          endpoint: `${location.origin}/v2/index.php`,
          retries: 1,
          retryDelayMs: 50,
          cache: false,
          getSignature: async (info) => {
            if (spoiled) await window.spoilPicked();
            const query = new URLSearchParams({ f: info.f, ft: info.ft, fs: info.fs, uid: "e2e" });
            return (await (await fetch(`/signature?${query}`)).json()).signature;
          },
        });
        return { result };
      } catch (e) {
        return { error: { name: e.name, code: e.code, stage: e.stage, canRetry: e.canRetry, message: e.message } };
      }
    }, spoiled);
  }

  for (const [how, change] of [
    ["changed", (file) => appendFileSync(file, "more")],
    ["deleted", (file) => rmSync(file)],
  ]) {
    test(`a file ${how} after hashing fails as unreadable (-20006), and uploads once picked again`, { timeout: TEST_TIMEOUT_MS }, async () => {
      const bytes = randomBytes(SIZE);
      const file = path.join(workDir, `${how}.bin`);
      writeFileSync(file, bytes);
      spoil = () => change(file);
      const run = await upload(file, true);
      assert.ok(run.error, `the upload failed: ${JSON.stringify(run.result)}`);
      assert.deepEqual(
        { code: run.error.code, stage: run.error.stage, canRetry: run.error.canRetry },
        { code: -20006, stage: "part", canRetry: false },
        JSON.stringify(run.error),
      );
      assert.match(run.error.message, /could not be read/);
      assert.match(run.error.message, /Pick it again/);

      // Picked again (as the message says), it uploads: the new bytes.
      writeFileSync(file, bytes);
      const again = await upload(file, false);
      assert.ok(again.result, JSON.stringify(again.error));
      assert.equal(again.result.fileSha, sha1(bytes));
      assert.equal(sha1(await fetchBytes(again.result.url)), sha1(bytes), "served bytes are the file's");
    });
  }
});
