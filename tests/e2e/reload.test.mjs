// End-to-end: the hash cache across page reloads, with files picked through
// <input type=file> in Chromium and the real server. An upload aborted at
// 40 % resumes after a reload without a pass over the file; a file changed
// in place (same size, mtime put back with fs.utimesSync) uploads its new
// bytes with rehashed: true; cache: false hashes again.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { openSync, closeSync, utimesSync, writeSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { hashReports, openApiPage, uploadPicked } from "./api-page.mjs";
import {
  API_PAGE,
  checkPrerequisites,
  fetchBytes,
  launchBrowser,
  makeTempDir,
  removeDir,
  sha1,
  startServer,
} from "./helpers.mjs";

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** A fixed mtime (whole seconds): the files' date never tells a change. */
const MTIME = 1_700_000_000;
const TEST_TIMEOUT_MS = 180_000;

describe("hash cache across reloads", () => {
  let browser;
  let server;
  let page;
  let workDir;
  let dataDir;

  before(async () => {
    checkPrerequisites();
    workDir = await makeTempDir("reload");
    dataDir = await makeTempDir("reload-data");
    server = await startServer({ dataDir, www: API_PAGE });
    browser = await launchBrowser();
    page = await (await browser.newContext()).newPage();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    await removeDir(workDir);
    await removeDir(dataDir);
  });

  /** Writes `bytes` to a new file of the work dir, dated MTIME. */
  function writeDated(name, bytes) {
    const file = path.join(workDir, name);
    writeFileSync(file, bytes);
    utimesSync(file, MTIME, MTIME);
    return file;
  }

  /** Changes one byte of `file` in place and puts its date back. */
  function changeInPlace(file, bytes, offset) {
    bytes[offset] ^= 0xff;
    const fd = openSync(file, "r+");
    writeSync(fd, bytes, offset, 1, offset);
    closeSync(fd);
    utimesSync(file, MTIME, MTIME);
  }

  /** Uploads and aborts at 40 %: a resumable upload, the hashes remembered. */
  async function abortAtForty(file, options) {
    await openApiPage(page, server.url);
    const run = await uploadPicked(page, file, { abortAt: 0.4, options });
    assert.equal(run.error && run.error.name, "AbortError", JSON.stringify(run.error));
    return run;
  }

  async function assertServed(result, bytes) {
    assert.equal(result.fileSha, sha1(bytes), "fileSha is the file's SHA-1");
    const served = await fetchBytes(result.url);
    assert.equal(served.length, bytes.length, "served size");
    assert.equal(sha1(served), sha1(bytes), "served bytes are the file's");
  }

  test("an upload aborted at 40 % resumes after a reload without hashing", { timeout: TEST_TIMEOUT_MS }, async () => {
    const bytes = randomBytes(SIZE);
    const file = writeDated("resume.bin", bytes);
    const first = await abortAtForty(file);
    assert.ok(hashReports(first).length >= 16, "the first upload hashed the file in steps of at most 4 MiB");

    await openApiPage(page, server.url); // the reload
    const run = await uploadPicked(page, file);
    assert.ok(run.result, JSON.stringify(run.error));
    const { result } = run;
    assert.equal(result.resumed, true, "resumed");
    assert.equal(result.rehashed, false, "not rehashed");
    assert.ok(result.partsSkipped >= 0.4 * 64 - 1, `the parts stored before the abort were skipped (${result.partsSkipped})`);
    assert.equal(result.bytesUploaded, SIZE - result.partsSkipped * MiB, "only the missing bytes were sent");
    // No SHA-1 pass: the hash stage is one report, already complete.
    const hash = hashReports(run);
    assert.equal(hash.length, 1, `one hash report, got ${hash.length}`);
    assert.equal(hash[0].loaded, SIZE);
    assert.deepEqual(run.signed, [result.fileSha], "signed once, for the remembered fs");
    await assertServed(result, bytes);
  });

  test("a file changed in place with the same mtime uploads its new bytes, rehashed", { timeout: TEST_TIMEOUT_MS }, async () => {
    // One change in a part the server holds (found by reading it back),
    // one in a part not yet sent (refused by the server's MD5 check).
    for (const [name, offset] of [["changed-held.bin", 12345], ["changed-unsent.bin", SIZE - 777]]) {
      const bytes = randomBytes(SIZE);
      const file = writeDated(name, bytes);
      await abortAtForty(file);
      const oldSha = sha1(bytes);
      changeInPlace(file, bytes, offset);

      await openApiPage(page, server.url);
      const run = await uploadPicked(page, file);
      assert.ok(run.result, `${name}: ${JSON.stringify(run.error)}`);
      assert.equal(run.result.rehashed, true, `${name}: rehashed`);
      assert.deepEqual(run.signed, [oldSha, sha1(bytes)], `${name}: signed for the remembered fs, then the new one`);
      await assertServed(run.result, bytes);
    }
  });

  test("cache: false hashes again", { timeout: TEST_TIMEOUT_MS }, async () => {
    const bytes = randomBytes(SIZE);
    const file = writeDated("no-cache.bin", bytes);
    await abortAtForty(file);
    await openApiPage(page, server.url);
    const run = await uploadPicked(page, file, { options: { cache: false } });
    assert.ok(run.result, JSON.stringify(run.error));
    assert.equal(run.result.resumed, true, "resumed");
    assert.equal(run.result.rehashed, false);
    assert.ok(hashReports(run).length >= 16, "a whole hashing pass");
    await assertServed(run.result, bytes);
  });
});
