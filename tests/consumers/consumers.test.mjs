// The package as apps get it: `npm pack pkg/`, then tiny apps in
// tests/consumers/*/ that depend on it by name (npm install of the tarball,
// the bundlers pinned by each fixture's package-lock.json), built and opened
// in headless Chromium against the real vod-ugc-server, each hashing and
// uploading a file that must come back byte for byte. Also: the package's
// files and manifest, Node.js (API and CLI), the TypeScript declarations
// (tsc, strict), and a browser without WebAssembly SIMD.
//
// Each fixture is copied to a temporary folder (the browser fixtures get
// app.js as src/index.js), so the checkout stays clean. npm installs with
// --prefer-offline: after the first run, from npm's cache.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import {
  ROOT, SERVER_BIN, fetchBytes, launchBrowser, makeRandomFile, makeTempDir, removeDir, startServer,
} from "../e2e/helpers.mjs";

const run = promisify(execFile);
const HERE = path.join(ROOT, "tests/consumers");
const PKG = path.join(ROOT, "pkg");
const MIB = 1 << 20;
// Over 4 MiB, so that browsers read it in the package's read Worker.
const FILE_SIZE = 5 * MIB + 12345;

let work;
let tarball;
let packed; // npm pack's list of the files in the tarball
let browser; // launched by the first test that needs it
const fixtures = new Map(); // name -> Promise<folder with the package installed>

async function npm(args, cwd) {
  try {
    return await run("npm", [...args, "--no-audit", "--no-fund", "--prefer-offline"], { cwd, maxBuffer: 64 * MIB });
  } catch (error) {
    throw new Error(`npm ${args.join(" ")} in ${cwd} failed:\n${error.stdout}\n${error.stderr}`);
  }
}

/** Copies a fixture and installs its pinned tools and the packed package. */
async function prepare(name) {
  const dir = path.join(work, name);
  await cp(path.join(HERE, name), dir, { recursive: true });
  if (["vite", "webpack", "esbuild", "plain"].includes(name)) {
    await mkdir(path.join(dir, "src"));
    await cp(path.join(HERE, "app.js"), path.join(dir, "src/index.js"));
  }
  await npm(["install", tarball], dir);
  return dir;
}

function fixture(name) {
  if (!fixtures.has(name)) fixtures.set(name, prepare(name));
  return fixtures.get(name);
}

before(async () => {
  for (const needed of [path.join(PKG, "package.json"), SERVER_BIN]) {
    if (!existsSync(needed)) throw new Error(`missing: ${needed} (run: npm run build)`);
  }
  work = await makeTempDir("consumers");
  const { stdout } = await npm(["pack", PKG, "--json", "--pack-destination", work], work);
  const [info] = JSON.parse(stdout);
  tarball = path.join(work, info.filename);
  packed = info.files.map((file) => file.path);
  // Installs go on while the first tests run.
  for (const name of ["vite", "webpack", "esbuild", "plain", "node", "types"]) fixture(name).catch(() => {});
});

after(async () => {
  await browser?.close();
  await Promise.allSettled(fixtures.values());
  await removeDir(work);
});

const builds = new Map(); // name -> Promise<folder, built>

/** The fixture, built once by its build script (its bundler, pinned by its lock). */
function built(name) {
  if (!builds.has(name)) {
    builds.set(name, fixture(name).then(async (dir) => {
      try {
        await run("npm", ["run", "build"], { cwd: dir, maxBuffer: 64 * MIB });
      } catch (error) {
        throw new Error(`npm run build in ${dir} failed:\n${error.stdout}\n${error.stderr}`);
      }
      return dir;
    }));
  }
  return builds.get(name);
}

/** A server whose --www is `www`, with its own data folder. */
async function server(www) {
  const dataDir = await makeTempDir("consumer-data");
  const started = await startServer({ dataDir, www });
  return {
    ...started,
    async stop() {
      await started.stop();
      await removeDir(dataDir);
    },
  };
}

async function randomFile(name) {
  return makeRandomFile(work, name, FILE_SIZE);
}

/**
 * Opens the app at `url`, picks `file`, and resolves to what it shows
 * (`{sha1, result}` or `{error}`) and the responses the page got.
 */
async function uploadInPage(url, file, { initScript } = {}) {
  browser ??= await launchBrowser();
  const context = await browser.newContext();
  const page = await context.newPage();
  const responses = [];
  const pageErrors = [];
  page.on("response", (response) => responses.push({ url: response.url(), status: response.status() }));
  page.on("pageerror", (error) => pageErrors.push(error.message));
  try {
    if (initScript) await page.addInitScript(initScript);
    await page.goto(url, { timeout: 30_000 });
    await page.waitForSelector("body[data-ready=true]", { timeout: 30_000 });
    await page.setInputFiles("#file", file.path);
    await page.waitForFunction(() => document.querySelector("#out").textContent !== "", null, { timeout: 120_000 });
    const outcome = JSON.parse(await page.textContent("#out"));
    assert.deepEqual(pageErrors, [], "no uncaught errors in the page");
    return { outcome, responses };
  } finally {
    await context.close();
  }
}

/** The upload is complete and the server holds exactly the file's bytes. */
async function assertUploaded(outcome, file) {
  assert.equal(outcome.error, undefined, `no error: ${JSON.stringify(outcome.error)}`);
  assert.equal(outcome.sha1, file.sha1, "hashFile gives the file's SHA-1");
  const { result } = outcome;
  assert.equal(result.fileSha, file.sha1);
  assert.equal(result.instant, false);
  assert.equal(result.bytesUploaded, file.size);
  const stored = await fetchBytes(result.url);
  assert.equal(stored.length, file.size);
  assert.ok(stored.equals(await readFile(file.path)), "the stored file is byte-exact");
}

/**
 * Where the page got the WebAssembly from: "file" (the .wasm), "inline
 * module" (the base64 copy, fetched as a chunk of its own) or "bundle"
 * (nothing fetched: the base64 copy is inside the bundle, or nothing loaded).
 */
function wasmSource(responses) {
  if (responses.some((r) => /\.wasm(\?|$)/.test(r.url) && r.status === 200)) return "file";
  if (responses.some((r) => /inline/.test(r.url) && r.status === 200)) return "inline module";
  return "bundle";
}

test("the package: manifest, files, entries", async () => {
  const manifest = JSON.parse(await readFile(path.join(PKG, "package.json"), "utf8"));
  assert.equal(manifest.name, "vod-ugc-upload");
  assert.equal(manifest.type, "module");
  assert.equal(manifest.sideEffects, false);
  assert.equal(manifest.license, "MIT");
  assert.ok(manifest.repository && manifest.keywords.length > 0);
  const root = manifest.exports["."];
  assert.deepEqual(Object.keys(root), ["types", "node", "import", "default"], "types first, node before import");
  // Every target of the exports map, the bin and the types is in the tarball.
  const targets = [
    ...Object.values(root),
    ...Object.entries(manifest.exports).filter(([key]) => key !== ".").map(([, target]) => target),
    manifest.bin["vod-ugc-upload"],
    manifest.types,
    manifest.main,
  ];
  for (const target of targets) assert.ok(packed.includes(target.replace(/^\.\//, "")), `${target} is packed`);
  assert.ok(packed.includes("LICENSE") && packed.includes("README.md"));
  // Every relative import of a packed module names a packed file.
  for (const file of packed.filter((f) => /\.(js|d\.ts)$/.test(f))) {
    const source = await readFile(path.join(PKG, file), "utf8");
    for (const [, specifier] of source.matchAll(/(?:from|import)\s*\(?\s*["'](\.[^"']+)["']/g)) {
      let target = path.posix.join(path.posix.dirname(file), specifier);
      if (file.endsWith(".d.ts")) target = target.replace(/\.js$/, ".d.ts");
      assert.ok(packed.includes(target), `${file} imports ${specifier}, which is packed`);
    }
  }
  // The inline copy is the .wasm.
  const { wasmBase64 } = await import(path.join(PKG, "vod_ugc_upload_inline.js"));
  const wasm = await readFile(path.join(PKG, "vod_ugc_upload_bg.wasm"));
  assert.ok(Buffer.from(wasmBase64, "base64").equals(wasm), "vod_ugc_upload_inline.js holds the .wasm");
  const cli = await readFile(path.join(PKG, "cli.js"), "utf8");
  assert.ok(cli.startsWith("#!/usr/bin/env node\n"), "the CLI has a shebang");
});

/**
 * Builds a browser fixture (when it has a build step), serves `www` (a
 * folder of it) from the upload server, uploads a file from `page` and
 * resolves to where the page got the WebAssembly from and its responses.
 */
async function uploadWithFixture(name, { buildStep = true, www = ".", page = "" } = {}) {
  const dir = await (buildStep ? built(name) : fixture(name));
  const srv = await server(path.join(dir, www));
  try {
    const file = await randomFile(`${name}-${page || "index"}.bin`);
    const { outcome, responses } = await uploadInPage(`${srv.url}/${page}`, file);
    await assertUploaded(outcome, file);
    return { source: wasmSource(responses), responses };
  } finally {
    await srv.stop();
  }
}

test("Vite: production build, no configuration", async () => {
  const { source } = await uploadWithFixture("vite", { www: "dist" });
  assert.equal(source, "file", "Vite ships the .wasm as an asset");
});

test("Vite: dev server, no configuration", async (t) => {
  const dir = await fixture("vite");
  const srv = await server(dir);
  const port = await freePort();
  const vite = spawn(path.join(dir, "node_modules/.bin/vite"), ["--host", "127.0.0.1", "--port", String(port), "--strictPort"], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  vite.stdout.on("data", (d) => { output += d; });
  vite.stderr.on("data", (d) => { output += d; });
  // Vite colours its banner whenever CI is set (picocolors), and puts the
  // port itself in bold: read the text without the escape sequences.
  const plain = () => output.replace(/\x1b\[[0-9;]*m/g, "");
  try {
    await waitFor(() => plain().includes(`127.0.0.1:${port}`), 30_000, () => `vite did not start:\n${plain()}`);
    const file = await randomFile("vite-dev.bin");
    const { outcome, responses } = await uploadInPage(`http://127.0.0.1:${port}/?server=${encodeURIComponent(srv.url)}`, file);
    await assertUploaded(outcome, file);
    // Vite 8 serves the .wasm from the package folder; a dev server that
    // pre-bundles without the file (vitejs/vite#8427) gets the inline copy.
    t.diagnostic(`the WebAssembly came from: ${wasmSource(responses)}`);
  } finally {
    vite.kill();
    await once(vite, "exit").catch(() => {});
    await srv.stop();
  }
});

test("webpack 5: production build, default configuration", async () => {
  const { source } = await uploadWithFixture("webpack");
  assert.equal(source, "file", "webpack ships the .wasm as an asset");
});

test("esbuild: --bundle --format=esm", async () => {
  const { source, responses } = await uploadWithFixture("esbuild");
  // esbuild leaves the URL as it is (no .wasm beside the bundle), and
  // without --splitting bundles the inline copy.
  assert.equal(source, "bundle", "the inline copy in the bundle is used");
  assert.ok(responses.some((r) => r.url.endsWith("/dist/vod_ugc_upload_bg.wasm") && r.status === 404));
});

test("a plain <script type=module> page with an import map, init(url) first", async () => {
  const { source, responses } = await uploadWithFixture("plain", { buildStep: false });
  assert.equal(source, "file");
  assert.ok(!responses.some((r) => r.url.includes("inline")), "the inline copy is not fetched");
});

test("in a module Worker: a relative endpoint resolves against the Worker's location", async () => {
  await uploadWithFixture("plain", { buildStep: false, page: "worker.html" });
});

test("a browser without WebAssembly SIMD gets a UgcError that says so", async () => {
  const dir = await built("vite");
  const srv = await server(path.join(dir, "dist"));
  try {
    const file = await randomFile("no-simd.bin");
    // The package's detection asks WebAssembly.validate; make it say no.
    const { outcome, responses } = await uploadInPage(`${srv.url}/`, file, {
      initScript: () => { WebAssembly.validate = () => false; },
    });
    assert.equal(outcome.error?.name, "UgcError", JSON.stringify(outcome));
    assert.equal(outcome.error.code, -20007);
    assert.equal(outcome.error.known, "LOAD_FAILED");
    assert.equal(outcome.error.stage, "load");
    assert.equal(outcome.error.canRetry, false);
    assert.match(outcome.error.message, /too old.*WebAssembly SIMD/);
    assert.equal(wasmSource(responses), "bundle", "nothing is fetched for a module that cannot run");
  } finally {
    await srv.stop();
  }
});

test("Node.js: the API with a Blob from fs.openAsBlob", async () => {
  const dir = await fixture("node");
  const srv = await server(dir);
  try {
    // Node.js picks the package's "node" entry, which reads the .wasm from disk.
    const { stdout: entry } = await run("node", ["--input-type=module", "-e", 'console.log(import.meta.resolve("vod-ugc-upload"))'], { cwd: dir });
    assert.match(entry.trim(), /\/node_modules\/vod-ugc-upload\/vod_ugc_upload_node\.js$/);
    const file = await randomFile("node-api.bin");
    const { stdout } = await run("node", ["upload.mjs", file.path, `${srv.url}/v2/index.php`, `${srv.url}/signature`], { cwd: dir });
    await assertUploaded(JSON.parse(stdout), file);
    // A relative endpoint has nothing to resolve against in Node.js.
    const refused = await run("node", ["upload.mjs", file.path, "/v2/index.php", `${srv.url}/signature`], { cwd: dir }).catch((e) => e);
    const { error } = JSON.parse(refused.stdout);
    assert.equal(error.code, -20001);
    assert.match(error.message, /not an absolute URL/);
  } finally {
    await srv.stop();
  }
});

test("Node.js: the vod-ugc-upload CLI, its output and exit codes", async () => {
  const dir = await fixture("node");
  const srv = await server(dir);
  // A signer that signs nonsense: the upload server refuses it (-10002).
  const badSigner = createServer((req, res) => res.end(JSON.stringify({ signature: "bm90IGEgc2lnbmF0dXJl" })));
  badSigner.listen(0, "127.0.0.1");
  await once(badSigner, "listening");
  const cli = (...args) =>
    run(path.join(dir, "node_modules/.bin/vod-ugc-upload"), args, { cwd: dir })
      .then(({ stdout, stderr }) => ({ code: 0, stdout, stderr }))
      .catch((e) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
  try {
    const file = await randomFile("cli.bin");
    const ok = await cli(file.path, "--endpoint", `${srv.url}/v2/index.php`, "--signature-url", `${srv.url}/signature`);
    assert.equal(ok.code, 0, ok.stderr);
    const result = JSON.parse(ok.stdout);
    await assertUploaded({ sha1: result.fileSha, result }, file);
    assert.equal(ok.stderr, "", "no progress line when stderr is not a terminal");

    // On a terminal (script(1) gives it one), a progress line on stderr.
    const tty = await randomFile("cli-tty.bin");
    const command = [path.join(dir, "node_modules/.bin/vod-ugc-upload"), tty.path, "--endpoint", `${srv.url}/v2/index.php`, "--signature-url", `${srv.url}/signature`]
      .map((arg) => `'${arg}'`).join(" ");
    const { stdout: screen } = await run("script", ["-qec", command, "/dev/null"], { cwd: dir });
    assert.match(screen, /\r\x1b\[Khash +\d+ %/, "a hash progress line");
    assert.match(screen, /\r\x1b\[Kupload +100 %/, "an upload progress line that ends at 100 %");
    assert.match(screen, new RegExp(`"fileSha": "${tty.sha1}"`), "then the result");

    const endpoint = ["--endpoint", `${srv.url}/v2/index.php`];
    const signer = ["--signature-url", `${srv.url}/signature`];
    const other = await randomFile("cli-fail.bin");
    const cases = [
      ["no signature URL", [other.path, ...endpoint], 2, null],
      ["a relative endpoint", [other.path, "--endpoint", "/v2/index.php", ...signer], 2, -20001],
      ["a bad option value", [other.path, ...endpoint, ...signer, "--part-size", "3"], 2, -20001],
      ["a missing file", [path.join(work, "nope.bin"), ...endpoint, ...signer], 3, null],
      ["a signature URL that fails", [other.path, ...endpoint, "--signature-url", `${srv.url}/no-such-signer`], 4, -20002],
      ["an unreachable endpoint", [other.path, "--endpoint", `http://127.0.0.1:${await freePort()}/v2/index.php`, ...signer, "--retries", "0"], 5, -20003],
      ["a refused signature", [other.path, ...endpoint, "--signature-url", `http://127.0.0.1:${badSigner.address().port}/`], 6, -10002],
    ];
    for (const [what, args, exit, code] of cases) {
      const outcome = await cli(...args);
      assert.equal(outcome.code, exit, `${what}: exit ${exit}\n${outcome.stderr}`);
      assert.match(outcome.stderr, /^vod-ugc-upload: \S/, `${what}: a message on stderr`);
      if (code !== null) assert.equal(JSON.parse(outcome.stdout).error.code, code, `${what}: code ${code}`);
    }
  } finally {
    badSigner.close();
    await srv.stop();
  }
});

test("TypeScript: the declarations under tsc --strict (bundler and nodenext resolution)", async () => {
  await built("types");
});

async function freePort() {
  const probe = createServer();
  probe.listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitFor(condition, ms, message) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message());
    await new Promise((r) => setTimeout(r, 100));
  }
}
