// The in-page half of `npm run bench` (bench/run.mjs drives it through
// playwright-core). Every function times one run and returns plain numbers;
// medians, ratios and the table are computed in Node.
//
// Peers (globals from the classic scripts in index.html): `hashwasm`
// (hash-wasm's SHA-1 and MD5 builds) and `sha1` (js-sha1).

import init, { hashFile, upload } from "/pkg/vod_ugc_upload.js";

const wasm = await init();
const ENDPOINT = `${location.origin}/v2/index.php`;
const PART = 1 << 20; // the package's default part size
const CONCURRENCY = 4; // the package's default concurrency

const state = {
  disk: null, // the File from <input type=file> (disk-backed)
  // A Blob of the same bytes held in the browser's memory: fetch(url).blob()
  // of the same file. (Not new Blob([arrayBuffer]): Chromium 156 fails reads
  // of such a large Blob with NotReadableError once that ArrayBuffer is
  // collected, and keeping 256 MiB of ArrayBuffer in the page leaves too
  // little room for the runs' own reads.)
  mem: null,
  partMd5: null, // MD5 of each 1 MiB part of `bytes`
  baseline: null, // what the next plain-fetch baseline run sends
  small: null, // the first MiBs of `mem`: the throttled uplink's upload
  afterBig: false, // the last run held the whole file in an ArrayBuffer
};

performance.setResourceTimingBufferSize(1_000_000);

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
// Collects the previous run's garbage before a timed run, and gives V8's
// background sweeper a moment to free ArrayBuffer memory: with a few
// hundred MiB of dead ArrayBuffers not yet freed, Chromium 156 fails Blob
// reads with NotReadableError (and WebCrypto with a TypeError).
const settle = async (ms = 100) => {
  if (typeof window.gc === "function") window.gc();
  await new Promise((resolve) => setTimeout(resolve, ms));
};
const source = (name) => {
  const blob = { disk: state.disk, mem: state.mem, small: state.small }[name];
  if (!blob) throw new Error(`no ${name} source loaded`);
  return blob;
};

// Streams `blob` through `update` in `slice`-byte reads, one after the other:
// read a slice, hand it over, read the next (the plain way).
async function sliced(blob, slice, update) {
  for (let offset = 0; offset < blob.size; offset += slice) {
    const end = Math.min(offset + slice, blob.size);
    update(await blob.slice(offset, end).arrayBuffer());
  }
}

// hashFile with `globalThis.__vodUgcUploadRead` set to `hooks` for the call
// (see src/web/read-worker.js), which it fills in: how the Worker read.
async function hashWith(blob, hooks) {
  globalThis.__vodUgcUploadRead = hooks;
  try {
    return await hashFile(blob);
  } finally {
    delete globalThis.__vodUgcUploadRead;
  }
}

const hashers = {
  ours: (blob) => hashFile(blob),
  // Ours, its Worker made to read slices, or a BYOB stream to the end:
  // against "ours" (by default a BYOB stream where Blob streams have a
  // BYOB reader, except in Firefox; else slices: read-worker.js), the
  // measurements the default per engine comes from.
  "ours-slices": (blob) => hashWith(blob, { mode: "slices" }),
  "ours-stream": (blob) => hashWith(blob, { mode: "stream" }),
  "hash-wasm": async (blob, slice) => {
    const h = await hashwasm.createSHA1();
    await sliced(blob, slice, (buffer) => h.update(new Uint8Array(buffer)));
    return h.digest("hex");
  },
  "js-sha1": async (blob, slice) => {
    const h = sha1.create();
    await sliced(blob, slice, (buffer) => h.update(buffer));
    return h.hex();
  },
  webcrypto: async (blob) => hex(await crypto.subtle.digest("SHA-1", await blob.arrayBuffer())),
  // Blob.stream() with a BYOB reader into one recycled 4 MiB buffer, on the
  // page: the other way to read a Blob, as the package's Worker reads.
  "read-stream": async (blob) => {
    const reader = blob.stream().getReader({ mode: "byob" });
    let buffer = new ArrayBuffer(4 << 20);
    let n = 0;
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(buffer));
      if (done) break;
      n += value.byteLength;
      buffer = value.buffer;
    }
    if (n !== blob.size) throw new Error(`read ${n} of ${blob.size} bytes`);
    return null;
  },
  read: async (blob, slice) => {
    let n = 0;
    await sliced(blob, slice, (buffer) => { n += buffer.byteLength; });
    if (n !== blob.size) throw new Error(`read ${n} of ${blob.size} bytes`);
    return null;
  },
};

// Hashing bytes already in memory (an ArrayBuffer): compute alone, no reads.
const bufferHashers = {
  "hash-wasm": async (bytes, slice) => {
    const h = await hashwasm.createSHA1();
    for (let offset = 0; offset < bytes.byteLength; offset += slice) {
      h.update(new Uint8Array(bytes, offset, Math.min(slice, bytes.byteLength - offset)));
    }
    return h.digest("hex");
  },
  webcrypto: async (bytes) => hex(await crypto.subtle.digest("SHA-1", bytes)),
};

const signatureFor = async ({ f, ft, fs }) => {
  const res = await fetch(`/signature?${new URLSearchParams({ f, ft, fs, uid: "bench" })}`);
  if (!res.ok) throw new Error(`dev signer: HTTP ${res.status}`);
  return (await res.json()).signature;
};

// A File with the source's bytes except the first 16, which are random: a
// new file for the server every run (else InitUploadUGC answers "instant").
function freshCopy(blob, name) {
  const head = crypto.getRandomValues(new Uint8Array(16));
  return { head, file: new File([head, blob.slice(16)], name) };
}

/** ms from `t0` to the first UploadPartUGC request on the wire (Resource Timing), or null. */
function firstPartAfter(t0) {
  const parts = performance.getEntriesByType("resource").filter((e) => e.name.includes("Action=UploadPartUGC"));
  const first = parts.length ? Math.min(...parts.map((e) => (e.requestStart > 0 ? e.requestStart : e.startTime))) - t0 : null;
  return { first, count: parts.length };
}

function watchLongTasks() {
  const tasks = [];
  const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
  observer.observe({ type: "longtask" });
  return () => {
    tasks.push(...observer.takeRecords());
    observer.disconnect();
    return tasks.map((t) => t.duration);
  };
}

window.bench = {
  version: () => navigator.userAgent,
  wasmMemory: () => wasm.memory.buffer.byteLength,
  hasGc: () => typeof window.gc === "function",
  /** Whether Blob streams have a BYOB reader here (WebKit's do not). */
  hasByob() {
    try {
      new Blob([]).stream().getReader({ mode: "byob" }).releaseLock();
      return true;
    } catch {
      return false;
    }
  },

  /** How hashFile's Worker reads `name` by default, to its end: "stream" or "slices" (undefined: not in a Worker). */
  async readWay(name) {
    const hooks = {};
    await hashWith(source(name), hooks);
    return hooks.read;
  },

  /** Takes the File given through <input type=file>. */
  takeFile() {
    state.disk = document.getElementById("file").files[0];
    return state.disk.size;
  },

  /** The in-memory Blob: the same file, fetched from the server into a Blob. */
  async loadMemory(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    state.mem = await res.blob();
    await settle();
    return state.mem.size;
  },

  /**
   * How hashFile reads, seen by wrapping Blob.prototype.slice and .stream
   * and the Worker constructor for one call: the slice sizes, the number of
   * stream() calls and of Workers started (reads in a Worker are not seen).
   */
  async probeReads(name) {
    const blob = source(name);
    const seen = { sizes: [], streams: 0, workers: 0 };
    const { slice, stream } = Blob.prototype;
    const OriginalWorker = window.Worker;
    Blob.prototype.slice = function (start = 0, end = this.size, type) {
      seen.sizes.push(Math.min(end, this.size) - start);
      return slice.call(this, start, end, type);
    };
    Blob.prototype.stream = function () {
      seen.streams++;
      return stream.call(this);
    };
    window.Worker = class extends OriginalWorker {
      constructor(...args) {
        super(...args);
        seen.workers++;
      }
    };
    try {
      await hashFile(blob);
    } finally {
      Object.assign(Blob.prototype, { slice, stream });
      window.Worker = OriginalWorker;
    }
    return seen;
  },

  /** One timed hashing run: { ms, hex } (hex null for reads alone). */
  async hash(method, name, slice) {
    const blob = source(name);
    // Longer around the one-shot WebCrypto run: it holds the whole file.
    const big = method === "webcrypto";
    await settle(big || state.afterBig ? 300 : 100);
    state.afterBig = big;
    const t0 = performance.now();
    const digest = await hashers[method](blob, slice);
    return { ms: performance.now() - t0, hex: digest };
  },

  /** One timed hashing run over the bytes already in an ArrayBuffer (read untimed). */
  async hashBuffer(method, slice) {
    await settle(300);
    let bytes = await state.mem.arrayBuffer();
    await settle();
    const t0 = performance.now();
    const digest = await bufferHashers[method](bytes, slice);
    const ms = performance.now() - t0;
    bytes = null;
    state.afterBig = true;
    return { ms, hex: digest };
  },

  /**
   * One upload with our upload(): total, hash phase (until the "hash" stage
   * reports loaded === total), first part on the wire (Resource Timing
   * requestStart of the first UploadPartUGC), long tasks meanwhile.
   * `fresh`: upload a copy with new first bytes (else the file as it is).
   */
  async upload(name, fresh = true) {
    const base = source(name);
    const file = fresh ? freshCopy(base, `bench-${Date.now()}.bin`).file : base;
    await settle();
    performance.clearResourceTimings();
    const stopWatching = watchLongTasks();
    let hashEnd = null;
    let firstUploadProgress = null;
    const t0 = performance.now();
    const result = await upload(file, {
      endpoint: ENDPOINT,
      getSignature: signatureFor,
      onProgress: ({ stage, loaded, total }) => {
        const now = performance.now();
        if (stage === "hash" && loaded === total && hashEnd === null) hashEnd = now;
        if (stage === "upload" && firstUploadProgress === null) firstUploadProgress = now;
      },
    });
    const t1 = performance.now();
    const longTasks = stopWatching().filter((d) => d > 0);
    const parts = firstPartAfter(t0);
    return {
      total: t1 - t0,
      hash: hashEnd === null ? null : hashEnd - t0,
      firstPart: parts.first,
      partEntries: parts.count,
      longTasks,
      url: result.url,
      partsUploaded: result.partsUploaded,
      instant: result.instant,
    };
  },

  /** The "small" source: the first `mib` MiB of the in-memory bytes. */
  useSmall(mib) {
    state.small = source("mem").slice(0, mib * PART);
    return state.small.size;
  },

  /** MD5 of every 1 MiB part of the in-memory bytes, once (outside every timed region). */
  async prepareParts() {
    const md5 = await hashwasm.createMD5();
    const parts = [];
    await sliced(state.mem, PART, (buffer) => {
      md5.init();
      md5.update(new Uint8Array(buffer));
      parts.push(md5.digest("hex"));
    });
    state.partMd5 = parts;
    await settle();
    return parts.length;
  },

  /**
   * Prepares one baseline run, untimed: a fresh copy of the source (the
   * same bytes but the first 16), its SHA-1 and its parts' MD5 (only part
   * 0's differs from prepareParts').
   */
  async prepareBaseline(name) {
    const { file } = freshCopy(source(name), `baseline-${Date.now()}.bin`);
    const sha = await hashwasm.createSHA1();
    await sliced(file, 8 << 20, (buffer) => sha.update(new Uint8Array(buffer)));
    const md5 = await hashwasm.createMD5();
    md5.update(new Uint8Array(await file.slice(0, PART).arrayBuffer()));
    const partMd5 = [md5.digest("hex"), ...state.partMd5.slice(1, Math.ceil(file.size / PART))];
    state.baseline = { file, fileSha: sha.digest("hex"), partMd5 };
    return state.baseline.fileSha;
  },

  /**
   * The baseline: the same protocol with plain fetch and no hashing. A
   * signature, InitUploadUGC, every 1 MiB part POSTed as a Blob slice with
   * its precomputed MD5, 4 at a time, FinishUploadUGC. Timed from the
   * signature request to the Finish answer.
   */
  async baseline() {
    const { file, fileSha, partMd5 } = state.baseline;
    const call = async (params, init) => {
      const res = await fetch(`${ENDPOINT}?${new URLSearchParams(params)}`, init);
      const answer = await res.json();
      if (answer.code !== 0) throw new Error(`${params.Action}: ${JSON.stringify(answer)}`);
      return answer;
    };
    await settle();
    const t0 = performance.now();
    const signature = await signatureFor({ f: file.name.replace(/\.bin$/, ""), ft: "bin", fs: fileSha });
    await call({ Action: "InitUploadUGC", fileSha, fileSize: file.size, dataSize: PART, signature });
    let next = 0;
    const worker = async () => {
      while (next < partMd5.length) {
        const index = next++;
        const offset = index * PART;
        const end = Math.min(offset + PART, file.size);
        await call(
          { Action: "UploadPartUGC", fileSha, offset, dataSize: end - offset, dataMd5: partMd5[index], signature },
          { method: "POST", body: file.slice(offset, end) },
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const done = await call({ Action: "FinishUploadUGC", fileSha, signature });
    return { ms: performance.now() - t0, url: done.url };
  },

  /**
   * One half of a resume after a reload (bench/run.mjs reloads the page
   * between the halves): uploads the disk File as it is, with the hash
   * cache on (the default); with `abortAt`, aborts once that fraction is
   * stored. Times the hash phase and the first part on the wire, counts
   * the "hash" reports (one, complete, when the remembered hash is used).
   */
  async reloadRun(abortAt = null) {
    const file = source("disk");
    await settle();
    performance.clearResourceTimings();
    const controller = new AbortController();
    let hashEnd = null;
    let hashReports = 0;
    let result = null;
    const t0 = performance.now();
    try {
      result = await upload(file, {
        endpoint: ENDPOINT,
        getSignature: signatureFor,
        signal: controller.signal,
        onProgress: ({ stage, loaded, total }) => {
          if (stage === "hash") {
            hashReports += 1;
            if (loaded === total && hashEnd === null) hashEnd = performance.now();
          }
          if (abortAt !== null && stage === "upload" && loaded >= abortAt * total) controller.abort();
        },
      });
    } catch (e) {
      if (abortAt === null || e.name !== "AbortError") throw e;
    }
    const t1 = performance.now();
    return {
      total: t1 - t0,
      hash: hashEnd === null ? null : hashEnd - t0,
      firstPart: firstPartAfter(t0).first,
      hashReports,
      aborted: result === null,
      resumed: result?.resumed ?? null,
      rehashed: result?.rehashed ?? null,
      partsSkipped: result?.partsSkipped ?? null,
      url: result?.url ?? null,
    };
  },

  /**
   * A memory run: uploads the disk File as it is while sampling the wasm
   * memory every 100 ms (Node samples the JS heap over CDP meanwhile).
   */
  async memoryUpload() {
    const file = source("disk");
    await settle();
    let peak = wasm.memory.buffer.byteLength;
    const before = peak;
    const timer = setInterval(() => { peak = Math.max(peak, wasm.memory.buffer.byteLength); }, 100);
    try {
      const t0 = performance.now();
      const result = await upload(file, { endpoint: ENDPOINT, getSignature: signatureFor });
      peak = Math.max(peak, wasm.memory.buffer.byteLength);
      return { ms: performance.now() - t0, wasmBefore: before, wasmPeak: peak, url: result.url, instant: result.instant };
    } finally {
      clearInterval(timer);
    }
  },
};

document.body.dataset.ready = "true";
