// The README's Node.js signing example, taken from the README itself, makes
// signatures the real server accepts (and a wrong key is refused).

import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, test } from "node:test";
import { ROOT, SECRET_ID, SECRET_KEY, checkPrerequisites, makeTempDir, removeDir, startServer } from "./helpers.mjs";

let server;
let dataDir;
let codeDir;
let vodSignature;

async function loadReadmeExample() {
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const block = blocks.find((b) => b.includes("export function vodSignature"));
  assert.ok(block, "README.md has a js block exporting vodSignature");
  const file = path.join(codeDir, "readme-signing.mjs");
  await writeFile(file, block);
  return (await import(pathToFileURL(file).href)).vodSignature;
}

before(async () => {
  checkPrerequisites();
  dataDir = await makeTempDir("data-signing");
  codeDir = await makeTempDir("code");
  server = await startServer({ dataDir });
  process.env.VOD_SECRET_ID = SECRET_ID;
  process.env.VOD_SECRET_KEY = SECRET_KEY;
  vodSignature = await loadReadmeExample();
});

after(async () => {
  if (server) await server.stop();
  await removeDir(dataDir);
  await removeDir(codeDir);
});

async function init(fileSha, fileSize, signature) {
  const q = new URLSearchParams({ Action: "InitUploadUGC", fileSha, fileSize: String(fileSize), dataSize: "1048576", signature });
  const res = await fetch(`${server.url}/v2/index.php?${q}`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  return res.json();
}

test("the README's Node signing example is accepted by the server", { timeout: 30_000 }, async () => {
  const bytes = randomBytes(1000);
  const fs = createHash("sha1").update(bytes).digest("hex");
  const signature = vodSignature({ f: "holiday video", ft: "mp4", fs }, 42);
  const answer = await init(fs, bytes.length, signature);
  assert.equal(answer.code, 0, JSON.stringify(answer));
});

test("a signature from the README's example with another key is refused with -10002", { timeout: 30_000 }, async () => {
  const bytes = randomBytes(1000);
  const fs = createHash("sha1").update(bytes).digest("hex");
  // Same Original text, HMAC made with another key.
  const original = Buffer.from(vodSignature({ f: "a", ft: "bin", fs }, 1), "base64").subarray(20);
  const forged = Buffer.concat([createHmac("sha1", "not-the-key").update(original).digest(), original]).toString("base64");
  const answer = await init(fs, bytes.length, forged);
  assert.equal(answer.code, -10002, JSON.stringify(answer));
});
