// The reading Worker of vod-ugc-upload: the function `readWorker` below is
// its code (src/web/call.rs gets it through `readWorkerCode`,
// src/web/driver.js starts it from a blob: URL of its source, called with
// driver.js's `readAhead` as its argument; one per page). Its body uses
// only its own names, that argument and the Worker's globals: it runs
// there, never on the page.
//
// It reads a Blob front to back and hashes it here, with the page's own
// wasm module (the compiled WebAssembly.Module, posted by the page, is
// instantiated once per Worker without wasm-bindgen's glue: its raw
// exports vh_* are in src/web/worker.rs, over the same hashing code the
// page uses). The next reads are asked for before a buffer is hashed, so
// reading overlaps hashing, and no buffer crosses threads: the page gets
// only progress and, at the end, the digests.
//
// The memory a reading holds is bounded whatever the file's size: `ahead`
// buffers of `size` bytes (the one being hashed and the reads in flight),
// plus one such buffer in wasm memory.
//
// Two ways of reading, chosen per reading:
// - "stream": `blob.stream()` read with a BYOB reader straight into our
//   buffers (reused: no allocation per read). Where the engine has no BYOB
//   reader for Blob streams (WebKit), the default reader is not used:
//   WebKit hands the whole Blob to it as one chunk (a 256 MiB Blob, a
//   256 MiB chunk), so memory would grow with the file.
// - "slices": `blob.slice(start, end).arrayBuffer()`, one buffer-sized
//   slice at a time: each read makes a new ArrayBuffer, dropped once hashed.
// By default: a stream where there is a BYOB reader, except in Firefox
// (see SLICES below); else slices.
// A disk File (from <input type=file>) is read here exactly as an
// in-memory Blob: nothing in this file can make the browser read it
// cheaper. Profiled per thread (BENCHMARKS.md, "Disk File against
// in-memory Blob, profiled"), this Worker waits for bytes about as long on
// either source (20 to 40 ms of a ~0.5 s pass of 256 MiB, machine quiet):
// reads are not what it lacks. What a disk File adds is in the browser:
// Chromium reads the file with about 7,900 read() calls of 32 KiB per
// 256 MiB, each on a pool thread woken for it (an in-memory Blob: about
// 10), 110 to 200 ms of CPU more per pass, which takes turns with the
// hashing on 2 cores; the count is the same whatever this Worker does
// (hashing steps of 256 KiB or 4 MiB; Chromium's data pipe made larger).
// Firefox keeps a large fetched Blob in a temporary file (the bench's
// 256 MiB one: /tmp/mozilla-temp-*), so its "in-memory" Blob is read from
// a file too.
//
// A stream read that fails (WebKit fails them for files of 4 GiB and more
// with NotReadableError, WebKit bug 272600; other engines when the file
// changed or vanished) goes on with slices from the failing buffer's first
// byte. A slice that fails too ends the reading with an error.
//
// Messages in:
//   {id, blob, module, part, mode, size, ahead, hooks}  hash `blob` with
//        `module`, with its parts' MD5s at `part` bytes (0: none); `mode`
//        "stream", "slices" or undefined (the default: see above); `size`
//        bytes per read and `ahead` reads in flight whenever one is
//        awaited, it included (undefined: the defaults below); `hooks` for tests and diagnosis only: the page's
//        `globalThis.__vodUgcUploadRead`, `{streamFailsAt, slicesFailAt,
//        hashFailsAt, poison}` (see `faulty` below; `hashFailsAt` makes the
//        hashing fail as a wasm trap would, once it would pass that offset;
//        `poison` fills each buffer once hashed with 0xA5 before it is
//        filled again, so that bytes left over from an earlier fill could
//        never pass for the file's)
//   {id, stop}  ends the reading
// Messages out:
//   {id, hashed}   the first `hashed` bytes of the file are hashed
//   {id, digests, read}  the end: an ArrayBuffer, the SHA-1 (20 bytes),
//        then each part's MD5 (16 bytes each); `read`, how the last bytes
//        were read: "stream" or "slices" (the page passes it to the hooks)
//   {id, error}    the file could not be read: "Name: message"
//   {id, broken}   the hashing failed here (the module could not be
//        instantiated, or trapped): the page hashes the file itself
export const readWorkerCode = () => readWorker;

function readWorker(readAhead) {
  "use strict";

  /**
   * Bytes per read, reading a stream or slices; reads in flight when one is
   * awaited (it included): while a buffer is hashed, the next two are read.
   */
  const SIZE = { stream: 4 << 20, slices: 4 << 20 };
  const AHEAD = 3;
  /**
   * Whether slices are read by default although Blob streams have a BYOB
   * reader: in Firefox (Gecko; its forks say "Firefox/" too; Firefox on iOS
   * is WebKit). Its Blob stream hands each read about 40 KiB (90 to 110
   * reads per 4 MiB), each a task of this thread, none of which can run
   * while a buffer is hashed: a third of a 256 MiB pass went to waiting
   * for them. It reads slices off this thread (a tenth waiting), and frees
   * each once hashed: faster (+5 to 15 %), and 17 MiB at 1 GiB against 29.
   * An engine check, not a behaviour test: the one tried (slices after a
   * first buffer that took more than 32 reads) also caught Chromium on a
   * busy machine, whose first 4 MiB took 4 to 35 reads (2 to 10 after
   * it), and there slices cost +1 GiB of memory hashing a 1 GiB File, in
   * 2 runs of 3. BENCHMARKS.md, "Firefox reads slices", has the numbers.
   */
  const SLICES = /\bFirefox\//.test(navigator.userAgent);
  /**
   * Bytes hashed in one go; then the Worker's thread gets a turn (`turn`),
   * in which a pending stream read takes what the browser has sent so far.
   * Chromium sends a Blob's bytes through a pipe of a few MiB that only this
   * thread empties: hashing a whole 4 MiB buffer in one go let it fill, and
   * the browser's reading of a disk File waited for the hashing instead of
   * overlapping it.
   */
  const STEP = 1 << 20;
  /** A task turn of this thread (no timer clamping, unlike setTimeout). */
  const turns = new MessageChannel();
  const waiting = [];
  turns.port1.onmessage = () => waiting.shift()();
  const turn = () =>
    new Promise((resolve) => {
      waiting.push(resolve);
      turns.port2.postMessage(0);
    });

  /** The readings in progress, by id. */
  const readings = new Map();
  /** The module's instance here: {module, x: its exports}. */
  let wasm;

  onmessage = ({ data }) => {
    const reading = readings.get(data.id);
    if (!data.stop) start(data);
    else if (reading) end(reading);
  };

  function start({ id, blob, module, part, mode, size, ahead, hooks }) {
    const stream = mode === "slices" || (!mode && SLICES) ? null : byobReader(blob);
    const reading = {
      id,
      blob,
      size: size || SIZE[stream ? "stream" : "slices"],
      ahead: ahead || AHEAD,
      /** The BYOB reader, in "stream" mode (null once it failed). */
      stream,
      /** Stream reads, one after the other. */
      chain: Promise.resolve(),
      /** Buffers hashed, to be filled again (stream reads). */
      free: [],
      hooks: hooks || {},
    };
    readings.set(id, reading);
    run(reading, module, part);
  }

  const live = (reading) => readings.get(reading.id) === reading;

  function end(reading) {
    readings.delete(reading.id);
    reading.stream?.cancel().catch(() => {});
  }

  /** Sends the last message of a reading that is still live. */
  function last(reading, message, transfer) {
    if (!live(reading)) return;
    end(reading);
    postMessage({ id: reading.id, ...message }, transfer || []);
  }

  const describe = (error) => `${error && error.name}: ${error && error.message}`;

  /** The exports of `module`'s instance here, made on first use. */
  function exportsOf(module) {
    if (wasm?.module !== module) {
      // The glue's imports are never called by the vh_* exports: each stub
      // throws, should one ever be.
      const imports = {};
      for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
        if (kind === "function") {
          (imports[from] ??= {})[name] = () => {
            throw new Error(`${from}.${name} is not available in the reading Worker`);
          };
        }
      }
      wasm = { module, x: new WebAssembly.Instance(module, imports).exports };
    }
    return wasm.x;
  }

  /** Reads and hashes the whole file, `ahead` reads ahead of the hashing. */
  async function run(reading, module, part) {
    const size = reading.blob.size;
    let x, h;
    try {
      x = exportsOf(module);
      h = x.vh_new(size, part || 0);
    } catch (error) {
      return last(reading, { broken: describe(error) });
    }
    let hashed = 0;
    try {
      const done = await readAhead(size, reading.size, reading.ahead, (start, end) => read(reading, start, end), async (chunk) => {
        if (!live(reading)) return false;
        if (chunk.len !== chunk.want) return last(reading, { error: "NotReadableError: the file changed while it was read" });
        try {
          hashed = await hash(reading, x, h, chunk, hashed);
        } catch (error) {
          // The instance may be left in any state: the next reading makes
          // a new one, and this handle is not freed.
          wasm = h = undefined;
          return last(reading, { broken: describe(error) });
        }
        if (!live(reading)) return false;
        if (reading.stream) {
          if (reading.hooks.poison) new Uint8Array(chunk.buffer).fill(0xa5);
          reading.free.push(chunk.buffer);
        } else {
          // A slice's buffer is done with: its memory is freed now (ES2024
          // transfer(), where there is one), not when the garbage collector
          // gets to it. Measured in WebKit, hashing a 1 GiB File: +90 to
          // +101 MiB without, +35 to +46 MiB with.
          chunk.buffer.transfer?.(0);
        }
        return true;
      }).catch((error) => last(reading, { error: describe(error) }));
      if (!done) return;
      const n = x.vh_finish(h);
      const at = x.vh_buf(h, n);
      const digests = x.memory.buffer.slice(at, at + n);
      last(reading, { digests, read: reading.stream ? "stream" : "slices" }, [digests]);
    } finally {
      if (h !== undefined) x.vh_free(h);
    }
  }

  /**
   * Hashes a chunk in steps of at most STEP bytes, with a turn of the thread
   * between two steps: the bytes hashed then (fewer if the reading ended
   * meanwhile). One progress message per chunk.
   */
  async function hash(reading, x, h, chunk, hashed) {
    const bytes = new Uint8Array(chunk.buffer, 0, chunk.len);
    // Only a pending stream read needs the turns; slices' reads do not, and
    // in WebKit (slices) the turns cost a third of the speed (350 -> 217 MiB/s).
    const step = reading.stream ? STEP : chunk.len;
    for (let at = 0; at < chunk.len; at += step) {
      if (at) {
        await turn();
        if (!live(reading)) return hashed;
      }
      const n = Math.min(step, chunk.len - at);
      if (faulty(reading.hooks.hashFailsAt, hashed + n)) {
        throw new WebAssembly.RuntimeError("unreachable (a fault injected by a test)");
      }
      // vh_buf may grow the instance's memory (a new ArrayBuffer): the view
      // is made after it.
      const to = x.vh_buf(h, n);
      new Uint8Array(x.memory.buffer, to, n).set(bytes.subarray(at, at + n));
      x.vh_update(h, n);
      hashed += n;
    }
    postMessage({ id: reading.id, hashed });
    return hashed;
  }

  /**
   * The promise of bytes start..end of the file: {buffer, len, want};
   * `len` is what was read, `want` what should have been.
   */
  function read(reading, start, end) {
    const filled = reading.stream ? reading.chain.then(() => fill(reading, start, end)) : slice(reading, start, end);
    // The next stream read waits for this one; and a read still in flight
    // when the reading ends may fail unheard.
    reading.chain = filled.catch(() => {});
    return filled;
  }

  /** Bytes start..end from the stream, or from a slice once it failed. */
  async function fill(reading, start, end) {
    if (!live(reading)) throw readError();
    if (reading.stream) {
      try {
        return await fromStream(reading, start, end);
      } catch (error) {
        if (!live(reading)) throw error;
        // The stream failed, and its reader took the buffer with it (a BYOB
        // read transfers it): read the same bytes again, from a slice.
        reading.stream = null;
      }
    }
    return slice(reading, start, end);
  }

  async function fromStream(reading, start, end) {
    let buffer = reading.free.pop() || new ArrayBuffer(reading.size);
    const want = end - start;
    let len = 0;
    while (len < want) {
      if (faulty(reading.hooks.streamFailsAt, end)) {
        // As the engine would: the reader errors, the buffer is gone.
        await reading.stream.cancel();
        throw readError();
      }
      const { value, done } = await reading.stream.read(new Uint8Array(buffer, len, want - len));
      if (value) buffer = value.buffer;
      if (done) break;
      len += value.byteLength;
    }
    return { buffer, len, want };
  }

  async function slice(reading, start, end) {
    if (faulty(reading.hooks.slicesFailAt, end)) throw readError();
    const buffer = await reading.blob.slice(start, end).arrayBuffer();
    return { buffer, len: buffer.byteLength, want: end - start };
  }

  /**
   * Whether Blob streams have a BYOB reader here, asked once of an empty Blob:
   * in WebKit, which has none, merely making a Blob's stream starts reading
   * the whole Blob into memory (measured: +236 MiB while hashing a 1 GiB
   * File, and half the speed), so a file's stream is made only where it can
   * be read into our buffers.
   */
  const hasByob = (() => {
    try {
      new Blob([]).stream().getReader({ mode: "byob" }).releaseLock();
      return true;
    } catch {
      return false;
    }
  })();

  /** A BYOB reader of the Blob's stream, or null where the engine has none. */
  function byobReader(blob) {
    if (!hasByob) return null;
    try {
      return blob.stream().getReader({ mode: "byob" });
    } catch {
      return null;
    }
  }

  /**
   * For tests: whether a step that ends at `end` must fail, given the offset
   * from which the page asked it to fail (`globalThis.__vodUgcUploadRead`
   * on the page: `{streamFailsAt, slicesFailAt, hashFailsAt}`), as reads fail
   * in the engines when a file is too large for the stream or changed on
   * disk.
   */
  function faulty(failAt, end) {
    return typeof failAt === "number" && end > failAt;
  }

  function readError() {
    return new DOMException("The requested file could not be read (a fault injected by a test).", "NotReadableError");
  }
}
