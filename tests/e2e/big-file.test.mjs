// End-to-end: a file over 4 GiB (4 GiB + 3 MiB + 7 bytes: offsets and the
// size past 32 bits, a short last part) picked through <input type=file> in
// Chromium and uploaded to the real server; the served bytes are hashed on
// the Node side, streaming. The file's content is generated (every MiB
// distinct, so a part sent at the wrong offset cannot go unnoticed) and
// hashed as it is written; the file and the server's copy are removed after.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { openApiPage, uploadPicked } from "./api-page.mjs";
import { API_PAGE, checkPrerequisites, launchBrowser, makeTempDir, removeDir, startServer } from "./helpers.mjs";

const MiB = 1024 * 1024;
const SIZE = 4 * 1024 * MiB + 3 * MiB + 7;
const TEST_TIMEOUT_MS = 15 * 60_000;

/**
 * Writes `size` bytes to `file`: 1 MiB chunks cut from a random pool at
 * varying offsets, each stamped with its index. Resolves to the SHA-1.
 */
async function writeBigFile(file, size) {
  const pool = randomBytes(16 * MiB);
  const chunk = Buffer.alloc(MiB);
  const sha = createHash("sha1");
  const handle = await open(file, "w");
  try {
    for (let at = 0, index = 0; at < size; at += MiB, index++) {
      const len = Math.min(MiB, size - at);
      const from = (index * 4099 * 64) % (pool.length - MiB);
      pool.copy(chunk, 0, from, from + len);
      chunk.writeBigUInt64LE(BigInt(index), 0);
      const part = chunk.subarray(0, len);
      sha.update(part);
      await handle.write(part, 0, len, at);
    }
  } finally {
    await handle.close();
  }
  return sha.digest("hex");
}

/** Streams `url` through SHA-1: its byte count and hash. */
function hashServed(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        return;
      }
      const sha = createHash("sha1");
      let bytes = 0;
      res.on("data", (d) => {
        bytes += d.length;
        sha.update(d);
      });
      res.on("end", () => resolve({ bytes, sha1: sha.digest("hex") }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

describe("a file over 4 GiB", () => {
  let browser;
  let server;
  let workDir;
  let dataDir;

  before(async () => {
    checkPrerequisites();
    workDir = await makeTempDir("big");
    dataDir = await makeTempDir("big-data");
    server = await startServer({ dataDir, www: API_PAGE });
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop();
    await removeDir(workDir);
    await removeDir(dataDir);
  });

  test("uploads byte-exact from <input type=file>", { timeout: TEST_TIMEOUT_MS }, async () => {
    const file = path.join(workDir, "over-4-gib.bin");
    const sha1 = await writeBigFile(file, SIZE);
    const page = await (await browser.newContext()).newPage();
    await openApiPage(page, server.url);
    const run = await uploadPicked(page, file);
    assert.ok(run.result, JSON.stringify(run.error));
    const { result } = run;
    assert.equal(result.fileSha, sha1, "fileSha");
    assert.equal(result.bytesUploaded, SIZE, "bytesUploaded");
    assert.equal(result.partsUploaded, Math.ceil(SIZE / MiB), "every part sent");
    const last = run.events.filter((e) => e.stage === "upload").at(-1);
    assert.equal(last.loaded, SIZE, "upload progress ends at the size");
    const served = await hashServed(result.url);
    assert.equal(served.bytes, SIZE, "served size");
    assert.equal(served.sha1, sha1, "served bytes");
    const hashMs = run.events.filter((e) => e.stage === "hash").at(-1).at;
    console.log(`over 4 GiB: ${SIZE} bytes hashed in ${(hashMs / 1000).toFixed(1)} s, uploaded in ${(last.at / 1000).toFixed(1)} s`);
  });
});
