#!/usr/bin/env node
// Where the release .wasm's bytes go (issue 13 item 3), by module: the
// sections, then the code section's function bodies grouped by the crate or
// module their name says (hash kernels, engine, web adapter, json, std fmt,
// panics, allocator, futures' state machines, wasm-bindgen glue), each raw
// and gzip -9 (the group's bodies gzipped together: a share of the module's
// gzip size, not an exact one, since gzip finds repeats across groups).
//
// It needs a build that keeps the `name` section: the shipped .wasm has none.
// Make one with the shipped build's passes, `-g` added (the code is the same:
// stripped of its names it is within 0.2 % of pkg/'s .wasm):
//
//   bash scripts/build.sh   # the release toolchain and flags (scripts/release-toolchain.sh)
//   wasm-bindgen --target web --out-dir /tmp/named target/wasm32-unknown-unknown/release/vod_ugc_upload.wasm
//   wasm-opt -Os -g --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
//     --enable-sign-ext --enable-mutable-globals /tmp/named/vod_ugc_upload_bg.wasm -o /tmp/named/named.wasm
//   node bench/wasm-size.mjs /tmp/named/named.wasm [--top 40]
//
// For dominators and call paths, `twiggy dominators` / `twiggy paths` on the
// same file (cargo install twiggy).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith("--") && !/^\d+$/.test(a));
const topIndex = args.indexOf("--top");
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
if (!file) {
  console.error("usage: node bench/wasm-size.mjs NAMED.wasm [--top N]");
  process.exit(2);
}
const bytes = readFileSync(file);
const gz = (buf) => gzipSync(buf, { level: 9 }).length;
const kb = (n) => (n / 1000).toFixed(1);

/** A cursor over the module's bytes: LEB128 and names, as the binary format has them. */
function reader(buf, pos = 0) {
  return {
    get pos() { return pos; },
    set pos(p) { pos = p; },
    u8: () => buf[pos++],
    u32() {
      let result = 0, shift = 0, b;
      do { b = buf[pos++]; result |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
      return result >>> 0;
    },
    name() { const n = this.u32(); const s = buf.toString("utf8", pos, pos + n); pos += n; return s; },
  };
}

const r = reader(bytes, 8);
const sections = [];
let importedFunctions = 0;
const bodies = []; // {start, end} of each defined function's body
const names = new Map();
const dataSegments = [];
const SECTION = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "datacount"];
while (r.pos < bytes.length) {
  const id = r.u8();
  const size = r.u32();
  const start = r.pos;
  const end = start + size;
  let label = SECTION[id] ?? `section ${id}`;
  if (id === 0) {
    const name = r.name();
    label = `custom "${name}"`;
    if (name === "name") {
      while (r.pos < end) {
        const sub = r.u8();
        const subSize = r.u32();
        const subEnd = r.pos + subSize;
        if (sub === 1) {
          const count = r.u32();
          for (let i = 0; i < count; i++) { const index = r.u32(); names.set(index, r.name()); }
        }
        r.pos = subEnd;
      }
    }
  } else if (id === 2) {
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      r.name(); r.name();
      const kind = r.u8();
      if (kind === 0) { r.u32(); importedFunctions++; }
      else if (kind === 1) { r.u8(); const f = r.u8(); r.u32(); if (f & 1) r.u32(); }
      else if (kind === 2) { const f = r.u8(); r.u32(); if (f & 1) r.u32(); }
      else if (kind === 3) { r.u8(); r.u8(); }
    }
  } else if (id === 10) {
    const count = r.u32();
    for (let i = 0; i < count; i++) { const n = r.u32(); bodies.push({ start: r.pos, end: r.pos + n }); r.pos += n; }
  } else if (id === 11) {
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const flags = r.u32();
      if (flags === 0 || flags === 2) {
        if (flags === 2) r.u32();
        while (bytes[r.pos] !== 0x0b) r.pos++; // the offset expression (i32.const N)
        r.pos++;
      }
      const n = r.u32();
      dataSegments.push(bytes.subarray(r.pos, r.pos + n));
      r.pos += n;
    }
  }
  sections.push({ label, size, buf: bytes.subarray(start, end) });
  r.pos = end;
}

// Groups, first match wins. Async fns' state machines (their `poll`) are
// named `path::to::fn::{{closure}}`; they go with "futures" whatever the crate.
const GROUPS = [
  ["futures: async fns' state machines ({{closure}})", /\{\{closure\}\}/],
  ["hash kernels (SHA-1, MD5, lanes)", /vod_ugc_upload::hash::|\bsha1::|\bmd5|md_5|digest::|block_buffer/],
  ["json (parse, write)", /vod_ugc_upload::json/],
  ["web adapter (src/web)", /vod_ugc_upload::web::/],
  ["engine (src/engine)", /vod_ugc_upload::engine/],
  ["protocol, signature, plan, options, cache, error, progress (core)", /vod_ugc_upload::/],
  ["signature deps (hmac, base64, form_urlencoded)", /hmac|base64|form_urlencoded|percent_encoding|subtle/],
  ["std fmt (Display, Debug, Formatter, write!)", /core::fmt|alloc::fmt|as core::fmt::|alloc::string::ToString|::fmt::h/],
  ["panics, unwrap, bounds checks", /panic|unwrap_failed|expect_failed|slice_index|slice_end_index|slice_start_index|index_out_of_bounds|core::result::unwrap|core::option::unwrap|abort|capacity_overflow|handle_alloc_error|\bstr::slice_error/],
  ["allocator (dlmalloc), Vec/String growth", /dlmalloc|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|alloc::raw_vec|RawVec|finish_grow|alloc::alloc|memcpy|memmove|memset|memcmp|bcmp/],
  ["futures-util, wasm-bindgen-futures (executor, channels, select)", /futures|wasm_bindgen_futures|core::task|Waker|Rc<|Arc</],
  ["wasm-bindgen, js-sys, web-sys glue and externref", /wasm_bindgen|js_sys|web_sys|__wbg|__wbindgen|__externref|externref/],
  ["core/alloc/std, other", /core::|alloc::|std::|<.*>::/],
];

const groups = new Map(GROUPS.map(([label]) => [label, { raw: 0, parts: [], count: 0 }]));
groups.set("unnamed", { raw: 0, parts: [], count: 0 });
const functions = [];
bodies.forEach((b, i) => {
  // Crate disambiguators (`core[c5930c85a12de822]`) and symbol hashes out.
  const name = (names.get(importedFunctions + i) ?? `func[${importedFunctions + i}]`)
    .replace(/\[[0-9a-f]{16}\]/g, "").replace(/::h[0-9a-f]{16}$/, "");
  const raw = b.end - b.start;
  const label = (GROUPS.find(([, re]) => re.test(name)) ?? ["unnamed"])[0];
  const g = groups.get(label);
  g.raw += raw; g.count++; g.parts.push(bytes.subarray(b.start, b.end));
  functions.push({ name, raw, label });
});

const total = bytes.length - (sections.find((s) => s.label === 'custom "name"')?.size ?? 0);
console.log(`${file}: ${bytes.length} B with names; ${total} B without the name section; ${importedFunctions} imported functions, ${bodies.length} defined`);
console.log("\n| section | raw B | gzip -9 B (alone) |\n|---|---:|---:|");
for (const s of sections) console.log(`| ${s.label} | ${s.size} | ${gz(s.buf)} |`);
if (dataSegments.length) {
  const data = Buffer.concat(dataSegments);
  const printable = data.filter((c) => c >= 0x20 && c < 0x7f).length;
  console.log(`\ndata: ${dataSegments.length} segment(s), ${data.length} B, ${Math.round((100 * printable) / data.length)} % printable ASCII (messages, names, the embedded Worker script)`);
}
const codeGz = gz(Buffer.concat(bodies.map((b) => bytes.subarray(b.start, b.end))));
console.log(`\n| code by module | functions | raw B | % of code | gzip -9 B (group alone) |\n|---|---:|---:|---:|---:|`);
const codeRaw = bodies.reduce((n, b) => n + b.end - b.start, 0);
for (const [label, g] of [...groups].sort((a, b) => b[1].raw - a[1].raw)) {
  if (!g.count) continue;
  console.log(`| ${label} | ${g.count} | ${g.raw} | ${((100 * g.raw) / codeRaw).toFixed(1)} % | ${gz(Buffer.concat(g.parts))} |`);
}
console.log(`| all code | ${bodies.length} | ${codeRaw} | 100 % | ${codeGz} |`);
console.log(`\n| top ${top} functions | raw B | group |\n|---|---:|---|`);
for (const f of functions.sort((a, b) => b.raw - a.raw).slice(0, top)) {
  console.log(`| \`${f.name.replace(/\|/g, "\\|").slice(0, 110)}\` | ${f.raw} | ${f.label.split(" (")[0]} |`);
}
console.log(`\n(KB = 1000 B: code ${kb(codeRaw)} KB raw, ${kb(codeGz)} KB gzip alone)`);
