// The in-page half of tests/stress/sha1.mjs: hashes Blobs of pseudo-random
// bytes with hashFile, each one way of reading, and compares with WebCrypto.

import init, { hashFile } from "/pkg/vod_ugc_upload.js";

await init();

/** Deterministic pseudo-random bytes (xorshift32), distinct per seed. */
function bytes(size, seed) {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  for (let i = words.length * 4; i < size; i++) out[i] = i;
  return out;
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

/**
 * How hashFile reads, per way: `globalThis.__vodUgcUploadNoWorker` (the page
 * reads 8 MiB slices itself, a new ArrayBuffer each: nothing recycled) or
 * `globalThis.__vodUgcUploadRead` (the Worker's way of reading; `poison`
 * fills each buffer given back with 0xA5 before the Worker reuses it).
 */
const WAYS = {
  worker: {},
  "worker-poison": { read: { poison: true } },
  "worker-slices": { read: { mode: "slices" } },
  page: { noWorker: true },
};

window.stress = async ({ seed, sizes, ways }) => {
  const results = [];
  for (const [i, size] of sizes.entries()) {
    const data = bytes(size, seed * 1000 + i);
    const expected = hex(await crypto.subtle.digest("SHA-1", data));
    const blob = new Blob([data]);
    for (const way of ways) {
      const { read, noWorker } = WAYS[way];
      globalThis.__vodUgcUploadRead = read;
      globalThis.__vodUgcUploadNoWorker = noWorker;
      const t0 = performance.now();
      const ours = await hashFile(blob);
      results.push({ size, way, ok: ours === expected, ours, expected, ms: performance.now() - t0 });
    }
  }
  return results;
};

document.body.dataset.ready = "true";
