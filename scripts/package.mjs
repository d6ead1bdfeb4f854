#!/usr/bin/env node
// Turns wasm-pack's output in pkg/ into the npm package apps install
// (run by scripts/build.sh right after wasm-pack; tests/consumers check it):
//
//   vod_ugc_upload_bg.js, .d.ts   wasm-bindgen's glue (wasm-pack's vod_ugc_upload.js, renamed; its init only instantiates;
//                                 the module's imports renamed a, b, ... here and in the .wasm)
//   vod_ugc_upload.js             entry for browsers and bundlers: loads the .wasm on first use
//   vod_ugc_upload_node.js        entry for Node.js (the "node" condition): the .wasm from disk
//   vod_ugc_upload_load.js        the shared, memoised load and the engine check
//   vod_ugc_upload_codes.js       the error codes by name
//   vod_ugc_upload_inline.js      the .wasm as base64, for bundlers that do not ship it (esbuild)
//   vod_ugc_upload.d.ts           the public types
//   cli.js                        the vod-ugc-upload command
//   package.json                  exports map, files, bin, sideEffects, license, ...
//
// The modules a page or an app loads (the entries, the loader, the codes,
// the glue and its snippets, e.g. the hash cache's IndexedDB code) are
// minified with esbuild (issue 13: the package's size; a page without a
// bundler loads them as they are). Their readable sources are js/ and
// src/web/*.js; the CLI stays as written.
//
// Usage: node scripts/package.mjs [PKG_DIR]   (default pkg)

import { copyFile, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = path.resolve(process.argv[2] ?? path.join(ROOT, "pkg"));
const JS = path.join(ROOT, "js");
const NAME = "vod_ugc_upload";

function die(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

const pkgPath = (file) => path.join(PKG, file);

// 1. wasm-bindgen's glue becomes an internal module. It must be fresh
//    wasm-pack output: the entry written below has none of these marks.
const glue = await readFile(pkgPath(`${NAME}.js`), "utf8").catch(() => die(`${pkgPath(`${NAME}.js`)} missing: run wasm-pack first`));
for (const mark of ["__wbg_init as default", "initSync", "export function upload(", "export function hashFile("]) {
  if (!glue.includes(mark)) die(`pkg/${NAME}.js is not wasm-pack's glue (no "${mark}"): run scripts/build.sh, which runs wasm-pack first`);
}
// One loader: ours (vod_ugc_upload_load.js) turns what init() is given
// (a URL, a Response, bytes, a WebAssembly.Module) into bytes or a module;
// the glue's own init, which does the same again (fetch, streaming with its
// MIME fallback, deprecated-argument warnings), gives way to one that only
// instantiates. wasm-bindgen is pinned (package.json's wasmBindgenVersion),
// so the text replaced is known; a glue without it stops the build.
const INIT_FROM = "async function __wbg_load(module, imports) {";
const INIT_TO = "export { initSync, __wbg_init as default };";
const initAt = glue.indexOf(INIT_FROM);
if (initAt < 0 || !glue.trimEnd().endsWith(INIT_TO)) die(`pkg/${NAME}.js: wasm-bindgen's init is not where this script expects it (a new wasm-bindgen?)`);
const instantiate = `/** Instantiates the module from its bytes or a WebAssembly.Module. */
async function __wbg_init(source) {
    if (wasm !== undefined) return wasm;
    const instantiated = await WebAssembly.instantiate(source, __wbg_get_imports());
    return instantiated instanceof WebAssembly.Instance
        ? __wbg_finalize_init(instantiated, source)
        : __wbg_finalize_init(instantiated.instance, instantiated.module);
}

/** The same, synchronously. */
function initSync(source) {
    if (wasm !== undefined) return wasm;
    const module = source instanceof WebAssembly.Module ? source : new WebAssembly.Module(source);
    return __wbg_finalize_init(new WebAssembly.Instance(module, __wbg_get_imports()), module);
}

${INIT_TO}
`;
// The module's imports get short names (a, b, ..., in the .wasm and in the
// glue's table of imports): wasm-bindgen names each `__wbg_<name>_<hash>`, 16
// hex digits that gzip cannot shrink, written twice (measured: −1.8 KB gzip,
// .wasm and glue). Only the glue instantiates the module (the reading Worker
// stubs whatever imports it finds), so the names are the glue's business.
const shortened = shortenImports(await readFile(pkgPath(`${NAME}_bg.wasm`)), glue.slice(0, initAt) + instantiate);
await writeFile(pkgPath(`${NAME}_bg.wasm`), shortened.wasm);
await writeFile(pkgPath(`${NAME}.js`), shortened.glue);
await rename(pkgPath(`${NAME}.js`), pkgPath(`${NAME}_bg.js`));
await rename(pkgPath(`${NAME}.d.ts`), pkgPath(`${NAME}_bg.d.ts`));

// 2. Our modules, the license.
const copied = [`${NAME}.js`, `${NAME}_node.js`, `${NAME}_load.js`, `${NAME}_codes.js`, `${NAME}.d.ts`, "cli.js"];
for (const file of copied) await copyFile(path.join(JS, file), pkgPath(file));
await copyFile(path.join(ROOT, "LICENSE"), pkgPath("LICENSE"));

// 3. Minified: what pages and apps load. esbuild keeps the modules' imports
//    and exports (and `new URL("...", import.meta.url)`, which bundlers
//    follow) as they are.
const snippets = (await readdir(pkgPath("snippets"), { recursive: true }).catch(() => []))
  .filter((file) => file.endsWith(".js"))
  .map((file) => path.join("snippets", file));
const loaded = [`${NAME}.js`, `${NAME}_node.js`, `${NAME}_load.js`, `${NAME}_codes.js`, `${NAME}_bg.js`, ...snippets];
for (const file of loaded) {
  const source = await readFile(pkgPath(file), "utf8");
  const { code } = await transform(source, { minify: true, format: "esm", sourcefile: file });
  await writeFile(pkgPath(file), code);
}

// 4. The .wasm inside a JS module.
const wasm = await readFile(pkgPath(`${NAME}_bg.wasm`));
await writeFile(
  pkgPath(`${NAME}_inline.js`),
  `// Generated by scripts/package.mjs: ${NAME}_bg.wasm as base64, loaded only where\n` +
    `// the .wasm is not found beside ${NAME}.js (esbuild bundles, Vite's dev server).\n` +
    `export const wasmBase64 = "${wasm.toString("base64")}";\n`,
);

// 5. package.json: wasm-pack's name, version, description and repository,
//    and what apps and bundlers need.
const generated = JSON.parse(await readFile(pkgPath("package.json"), "utf8"));
const files = [
  ...copied,
  `${NAME}_bg.js`,
  `${NAME}_bg.d.ts`,
  `${NAME}_bg.wasm`,
  `${NAME}_bg.wasm.d.ts`,
  `${NAME}_inline.js`,
  "LICENSE",
  "README.md",
  ...(generated.files ?? []).filter((file) => file.startsWith("snippets")),
];
const manifest = {
  name: generated.name,
  version: generated.version,
  description: generated.description,
  license: generated.license ?? "MIT",
  repository: generated.repository,
  keywords: ["upload", "vod", "ugc", "video", "resumable", "webassembly", "wasm", "sha1"],
  type: "module",
  main: `./${NAME}.js`,
  module: `./${NAME}.js`,
  types: `./${NAME}.d.ts`,
  exports: {
    ".": {
      types: `./${NAME}.d.ts`,
      node: `./${NAME}_node.js`,
      import: `./${NAME}.js`,
      default: `./${NAME}.js`,
    },
    [`./${NAME}_bg.wasm`]: `./${NAME}_bg.wasm`,
    "./package.json": "./package.json",
  },
  bin: { "vod-ugc-upload": "./cli.js" },
  files: [...new Set(files)],
  sideEffects: false,
  engines: { node: ">=20" },
};
await writeFile(pkgPath("package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
// wasm-pack's pkg/.gitignore ("*") would hide the package from tools that
// honour it; the workspace's .gitignore already ignores pkg/.
await rm(pkgPath(".gitignore"), { force: true });
console.log(`package: ${PKG}: ${manifest.name} ${manifest.version}, entries ${NAME}.js (browsers, bundlers) and ${NAME}_node.js (Node.js), CLI vod-ugc-upload`);

/**
 * Renames the module's imported functions to `a`, `b`, ... `Z`, `aa`, ...:
 * in the .wasm's import section (the rest of the module is copied as it
 * is) and in the glue, where each name must be the key of exactly one
 * import function (`name: function`), else the build stops.
 */
function shortenImports(wasm, glue) {
  const leb = (n) => {
    const out = [];
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>>= 7;
    } while (n);
    return Buffer.from(out);
  };
  const text = (s) => Buffer.concat([leb(Buffer.byteLength(s)), Buffer.from(s)]);
  const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const short = (i) => (i < LETTERS.length ? "" : short(Math.floor(i / LETTERS.length) - 1)) + LETTERS[i % LETTERS.length];
  let at = 8;
  const u32 = () => {
    let value = 0;
    let shift = 0;
    let byte;
    do {
      byte = wasm[at++];
      value |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return value >>> 0;
  };
  const name = () => {
    const length = u32();
    at += length;
    return wasm.toString("utf8", at - length, at);
  };
  const sections = [wasm.subarray(0, 8)];
  while (at < wasm.length) {
    const start = at;
    const id = wasm[at++];
    const end = u32() + at;
    if (id !== 2) {
      sections.push(wasm.subarray(start, end));
      at = end;
      continue;
    }
    const count = u32();
    const entries = [leb(count)];
    for (let i = 0; i < count; i++) {
      const module = name();
      const field = name();
      if (wasm[at] !== 0) die(`the .wasm imports ${module}.${field}, not a function: not renamed`);
      const typeAt = at + 1;
      at = typeAt;
      u32();
      const renamed = short(i);
      const key = new RegExp(`(?<![\\w$])${field}(?=: function)`, "g");
      const found = glue.match(key)?.length ?? 0;
      if (found !== 1) die(`import ${field}: ${found} keys of that name in the glue, not one`);
      glue = glue.replace(key, renamed);
      entries.push(text(module), text(renamed), Buffer.from([0]), wasm.subarray(typeAt, at));
    }
    const body = Buffer.concat(entries);
    sections.push(Buffer.from([2]), leb(body.length), body);
  }
  return { wasm: Buffer.concat(sections), glue };
}
