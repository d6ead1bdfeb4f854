// The minimal case (docs/webkit-sha1.md): the crate's SHA-1 alone, in a raw
// wasm module (tests/stress/sha1-min, served as /pkg/sha1_min.wasm), on
// bytes written straight into its memory: no wasm-bindgen glue, no Blob,
// no Worker, no buffer ever reused. Compared with WebCrypto.

// The module still declares the imports of the crate's browser adapter,
// which `digest` never calls: each is a function that throws.
const stubs = new Proxy({}, { get: () => new Proxy({}, { get: (_, name) => () => { throw new Error(`${String(name)} called`); } }) });
const { instance } = await WebAssembly.instantiateStreaming(fetch("/pkg/sha1_min.wasm"), stubs);
const { memory, alloc, digest } = instance.exports;

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

window.stress = async ({ seed, sizes }) => {
  const results = [];
  for (const [i, size] of sizes.entries()) {
    const ptr = alloc(size + 20);
    const data = new Uint8Array(memory.buffer, ptr, size);
    const words = new Uint32Array(memory.buffer, ptr, size >>> 2);
    let x = ((seed * 1000 + i) * 2654435761) >>> 0 || 1;
    for (let j = 0; j < words.length; j++) {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      words[j] = x;
    }
    const expected = hex(new Uint8Array(await crypto.subtle.digest("SHA-1", data.slice())));
    const t0 = performance.now();
    digest(ptr, size, ptr + size);
    const ms = performance.now() - t0;
    const ours = hex(new Uint8Array(memory.buffer, ptr + size, 20));
    results.push({ size, way: "min", ok: ours === expected, ours, expected, ms });
  }
  return results;
};

document.body.dataset.ready = "true";
