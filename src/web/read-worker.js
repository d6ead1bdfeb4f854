// The reading Worker of vod-ugc-upload (src/web/call.rs embeds this file
// at build time, src/web/driver.js starts it from a blob: URL; one per page).
//
// It reads a Blob front to back into a few buffers of a fixed size that
// travel between the page and this Worker without copies: it fills a
// buffer and transfers it to the page, the page hashes it and transfers it
// back. The memory a reading holds is those buffers, whatever the file's
// size, in every engine.
//
// Two ways of reading, chosen per reading:
// - "stream": `blob.stream()` read with a BYOB reader straight into our
//   buffers (no allocation per read). Where the engine has no BYOB reader
//   for Blob streams (WebKit), the default reader is not used: WebKit hands
//   the whole Blob to it as one chunk (a 256 MiB Blob, a 256 MiB chunk), so
//   memory would grow with the file.
// - "slices": `blob.slice(start, end).arrayBuffer()`, one buffer-sized
//   slice at a time: each read makes a new ArrayBuffer, which is
//   transferred to the page; the one given back is dropped (at most `n`
//   are alive at once, and dead ones are collected).
// A stream read that fails (WebKit fails them for files of 4 GiB and more
// with NotReadableError, WebKit bug 272600; other engines when the file
// changed or vanished) goes on with slices from the failing buffer's first
// byte. A slice that fails too ends the reading with an error.
//
// Messages in:
//   {id, blob, n, size, mode, hooks}  start reading `blob` into `n`
//        buffers of `size` bytes; `mode` "stream", "slices" or undefined
//        (the default: "stream" where the engine has a BYOB reader, else
//        "slices"); `hooks` for tests and diagnosis only: the page's
//        `globalThis.__vodUgcUploadRead`, `{streamFailsAt, slicesFailAt,
//        poison}` (see `faulty` below; `poison` fills each buffer given back
//        with 0xA5 before it is filled again, so that bytes left over from
//        an earlier fill could never pass for the file's)
//   {id, buf}   gives a buffer back
//   {id, stop}  ends the reading
// Messages out:
//   {id, buf, len, done}  the first `len` bytes of `buf` are the next bytes
//        of the file; `done` (1 or 0): the file ends there
//   {id, error}           the file could not be read: "Name: message"
"use strict";

/** The readings in progress, by id. */
const readings = new Map();

onmessage = (event) => {
  const message = event.data;
  const reading = readings.get(message.id);
  if (message.buf) {
    if (reading) {
      if (reading.hooks.poison) new Uint8Array(message.buf).fill(0xa5);
      reading.free.push(message.buf);
      pump(reading);
    }
  } else if (message.stop) {
    if (reading) end(reading);
  } else {
    start(message);
  }
};

function start({ id, blob, n, size, mode, hooks }) {
  const stream = mode === "slices" ? null : byobReader(blob);
  const reading = {
    id,
    blob,
    size,
    /**
     * What may be filled next: our buffers in "stream" mode; in "slices"
     * mode only their number counts (each slice read makes its own buffer,
     * and a buffer given back is dropped here).
     */
    free: Array.from({ length: n }, () => (stream ? new ArrayBuffer(size) : null)),
    /** Where the next buffer starts in the file. */
    offset: 0,
    /** The BYOB reader, in "stream" mode. */
    stream,
    busy: false,
    hooks: hooks || {},
  };
  readings.set(id, reading);
  pump(reading);
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

function end(reading) {
  readings.delete(reading.id);
  if (reading.stream) reading.stream.cancel().catch(() => {});
}

/** Fills free buffers and sends them, one at a time, until none is free. */
async function pump(reading) {
  if (reading.busy) return;
  reading.busy = true;
  try {
    while (readings.get(reading.id) === reading && reading.free.length) {
      const buffer = reading.free.pop();
      const filled = await fill(reading, buffer);
      if (readings.get(reading.id) !== reading) return;
      const done = reading.offset >= reading.blob.size || filled.done;
      postMessage({ id: reading.id, buf: filled.buffer, len: filled.len, done: done ? 1 : 0 }, [filled.buffer]);
      if (done) {
        end(reading);
        return;
      }
    }
  } catch (error) {
    if (readings.get(reading.id) === reading) {
      end(reading);
      postMessage({ id: reading.id, error: `${error && error.name}: ${error && error.message}` });
    }
  } finally {
    reading.busy = false;
  }
}

/**
 * The next bytes of the file into `buffer` (or, reading slices, a new
 * buffer): {buffer, len, done}. Advances `reading.offset`.
 */
async function fill(reading, buffer) {
  if (reading.stream) {
    try {
      return await fillFromStream(reading, buffer);
    } catch {
      // The stream failed, and its reader took `buffer` with it (a BYOB
      // read transfers it): read the same bytes again, from slices.
      reading.stream = null;
    }
  }
  const start = reading.offset;
  const end = Math.min(start + reading.size, reading.blob.size);
  if (faulty(reading.hooks.slicesFailAt, end)) throw readError();
  const bytes = await reading.blob.slice(start, end).arrayBuffer();
  reading.offset = start + bytes.byteLength;
  return { buffer: bytes, len: bytes.byteLength, done: bytes.byteLength < end - start };
}

/** Fills `buffer` from the BYOB reader; on failure, `reading.offset` is unchanged. */
async function fillFromStream(reading, buffer) {
  const start = reading.offset;
  let len = 0;
  while (len < buffer.byteLength) {
    if (faulty(reading.hooks.streamFailsAt, start + buffer.byteLength)) {
      // As the engine would: the reader errors, the buffer is gone.
      await reading.stream.cancel();
      throw readError();
    }
    const { value, done } = await reading.stream.read(new Uint8Array(buffer, len));
    if (value) buffer = value.buffer;
    if (done) {
      reading.offset = start + len;
      return { buffer, len, done: true };
    }
    len += value.byteLength;
  }
  reading.offset = start + len;
  return { buffer, len, done: false };
}

/**
 * For tests: whether a read that ends at `end` must fail, given the offset
 * from which the page asked reads to fail (`globalThis.__vodUgcUploadRead`
 * on the page: `{streamFailsAt, slicesFailAt}`), as reads fail in the
 * engines when a file is too large for the stream or changed on disk.
 */
function faulty(failAt, end) {
  return typeof failAt === "number" && end > failAt;
}

function readError() {
  return new DOMException("The requested file could not be read (a fault injected by a test).", "NotReadableError");
}
