// Performs the I/O of one call of upload() or hashFile() for its job in the
// module (src/web/call.rs, src/job.rs, src/transfer.rs: every decision is
// there): polls it for the next effect, does it, and feeds back what ends.
// Effects {k, t, u, a, b, p}: k 0 send (a GET to u, or a POST of bytes
// a..b of the file), 1 read bytes a..b, 2 wait for promise p, 3 wait (until
// time u, or until something ends), 4 the end (resolve with p if u, else
// reject), 5 hash the whole file (the part size p of the parts' MD5s), 6
// call getSignature p with u, then wait for what it returns. t
// names the request or read in what is fed back. The pass over the file
// hashes with `module` (this module) in the reading Worker, started from
// `workerCode` (read-worker.js's function).
// What is fed back: s.feed(online, kind, t, n, bytes, v), kinds numbered as
// ON_* in src/web/call.rs.

const now = () => performance.now();
/** Bytes hashed on the page in one step; files up to this size are hashed
 * on the page (quicker than a trip to the Worker). */
const BUFFER = 4 << 20;
/** Without the Worker: bytes per read on the page, and reads in flight. */
const SLICE = 8 << 20;
const AHEAD = 2;
/** Longest run of hashing in one task, in ms: then the page gets a turn. */
const BUDGET = 10;
/** The target of the pass over the whole file (src/web/call.rs). */
const HASH = -4;
/** What is fed back (src/web/call.rs, ON_*). */
const WAKE = 0;
const REPLY = 1;
const FAILED = 2;
const SENT = 3;
const READ = 4;
const HASHED = 5;
const UNREADABLE = 6;
const SETTLED = 7;
const ABORT = 8;
/** How a promise settled (src/web/call.rs). */
const REJECTED = 0;
const FULFILLED = 1;
const THREW = 2;

export function drive(s, blob, stallMs, signal, module, workerCode) {
  const g = globalThis;
  // Cancels each request (and the pass over the file) in flight.
  const live = new Map();
  let ended, busy, timer, settle;
  const result = new Promise((resolve, reject) => (settle = (v, ok) => (ok ? resolve : reject)(v)));

  // Feeds one result (or nothing: a wake), then starts what follows. A
  // callback of the page run from a poll (onProgress, getSignature) that
  // aborts comes back here: that waits for the poll to return.
  const feed = (kind, t, n, bytes, v) => {
    if (ended) return;
    if (busy) return queueMicrotask(() => feed(kind, t, n, bytes, v));
    busy = true;
    try {
      s.feed(g.navigator?.onLine !== false, kind, t, n, bytes, v);
      step();
    } finally {
      busy = false;
    }
  };
  const wake = () => feed(WAKE);
  const abort = () => feed(ABORT);
  const listen = (on) => {
    signal?.[on + "EventListener"]("abort", abort);
    if (g.addEventListener) for (const name of ["online", "offline"]) g[on + "EventListener"](name, wake);
  };

  function step() {
    clearTimeout(timer);
    for (;;) {
      const e = s.poll();
      const t = e.t;
      switch (e.k) {
        case 0:
          if (e.b === undefined) request(t, "GET", e.u);
          else if (g.XMLHttpRequest) post(t, e.u, blob.slice(e.a, e.b));
          else request(t, "POST", e.u, blob.slice(e.a, e.b));
          break;
        case 1:
          blob
            .slice(e.a, e.b)
            .arrayBuffer()
            .then(
              (buffer) => feed(READ, t, 0, new Uint8Array(buffer)),
              (error) => feed(UNREADABLE, 0, 0, undefined, error),
            );
          break;
        case 2:
          wait(e.p);
          break;
        case 6:
          try {
            const getSignature = e.p;
            wait(Promise.resolve(getSignature(e.u)));
          } catch (error) {
            feed(SETTLED, 0, THREW, undefined, error);
          }
          break;
        case 3:
          if (e.u !== undefined) timer = setTimeout(wake, e.u - now());
          return;
        case 5:
          hash(e);
          break;
        default:
          ended = true;
          listen("remove");
          for (const cancel of live.values()) cancel();
          s.free();
          return settle(e.p, e.u);
      }
    }
  }

  // Feeds what promise p settles with.
  const wait = (p) =>
    p.then(
      (value) => feed(SETTLED, 0, FULFILLED, undefined, value),
      (error) => feed(SETTLED, 0, REJECTED, undefined, error),
    );

  // Ends request t with this result, unless it was cancelled.
  const done = (t, kind, n, bytes, v) => live.delete(t) && feed(kind, t, n, bytes, v);

  // The stall limit of a request: `stalled` runs once no byte moved, either
  // way, for stallMs; kick() says some did.
  function watchdog(stalled) {
    let moved = now();
    let timer;
    const check = (ms) =>
      (timer = setTimeout(() => {
        const still = now() - moved;
        if (still < stallMs) check(stallMs - still);
        else stalled();
      }, ms));
    check(stallMs);
    return { kick: () => (moved = now()), stop: () => clearTimeout(timer) };
  }

  // A request with fetch, which tells nothing while a body goes out: the
  // stall limit runs until the headers, then again until the whole answer.
  async function request(t, method, url, body) {
    const controller = new AbortController();
    let stalled;
    live.set(t, () => controller.abort());
    const dog = watchdog(() => {
      stalled = true;
      controller.abort();
    });
    try {
      const response = await fetch(url, { method, body, signal: controller.signal });
      dog.kick();
      const bytes = new Uint8Array(await response.arrayBuffer());
      done(t, REPLY, response.status, bytes, response.headers.get("content-type") ?? "");
    } catch (error) {
      done(t, FAILED, 0, undefined, stalled ? undefined : error);
    } finally {
      dog.stop();
    }
  }

  // A part with XMLHttpRequest: its upload events tell the bytes sent, and
  // they, the headers and each chunk of the answer kick the stall limit.
  function post(t, url, body) {
    const x = new XMLHttpRequest();
    let dog;
    const quiet = () => {
      x.upload.onprogress = x.onprogress = x.onreadystatechange = x.onloadend = null;
      dog?.stop();
    };
    live.set(t, () => {
      quiet();
      x.abort();
    });
    try {
      x.open("POST", url);
      x.responseType = "arraybuffer";
      x.upload.onprogress = (event) => {
        dog.kick();
        feed(SENT, t, event.loaded);
      };
      x.onreadystatechange = x.onprogress = () => dog.kick();
      x.onloadend = () => {
        quiet();
        if (x.status) done(t, REPLY, x.status, new Uint8Array(x.response ?? 0), x.getResponseHeader("content-type") ?? "");
        else done(t, FAILED, 0, undefined, "XMLHttpRequest failed (network error)");
      };
      dog = watchdog(() => {
        quiet();
        x.abort();
        done(t, FAILED);
      });
      x.send(body);
    } catch (error) {
      // It could not start: a network failure, as fetch would say.
      quiet();
      done(t, FAILED, 0, undefined, error);
    }
  }

  // The pass over the whole file: hashed by the reading Worker, which
  // sends progress and the digests; else (no Worker, a small file, or the
  // Worker failed: then from the first byte again) read here and fed to
  // the module. `globalThis.__vodUgcUploadRead` goes to the Worker: how it
  // reads, for tests and the benchmark; it is told who hashed (`hashedBy`)
  // and how the Worker read the last bytes (`read`: "stream" or "slices").
  async function hash(e) {
    const hooks = g.__vodUgcUploadRead;
    try {
      const rw = blob.size > BUFFER && !g.__vodUgcUploadNoWorker && readWorker(workerCode);
      const digests = rw && (await inWorker(rw, e, hooks));
      if (ended) return;
      if (digests) return feed(HASHED, 0, 0, new Uint8Array(digests));
      if (hooks) hooks.hashedBy = "page";
      await onPage();
      if (!ended) feed(HASHED);
    } catch (error) {
      feed(UNREADABLE, 0, 0, undefined, error);
    }
  }

  // The digests from the reading Worker (read-worker.js says its
  // messages), or null when it failed; rejects when the file is unreadable.
  function inWorker(rw, e, hooks) {
    return new Promise((resolve, reject) => {
      const id = rw.id++;
      const close = (data) => {
        if (live.get(HASH) === close) live.delete(HASH);
        rw.inboxes.delete(id);
        if (!data) rw.w.postMessage({ id, stop: 1 });
        else if (hooks) hooks.read = data.read;
        if (data?.error) reject(data.error);
        else resolve(data?.digests);
      };
      live.set(HASH, close);
      rw.inboxes.set(id, (data) => (data?.hashed ? feed(SENT, HASH, data.hashed) : close(data || {})));
      if (hooks) hooks.hashedBy = "worker";
      rw.w.postMessage({ id, blob, module, part: e.p, mode: hooks?.mode, size: hooks?.size, ahead: hooks?.ahead, hooks });
    });
  }

  // Reads the file here, SLICE bytes at a time with AHEAD reads in flight,
  // and feeds it in steps of at most BUFFER bytes, in tasks of at most
  // BUDGET ms (a long task makes the page feel stuck).
  function onPage() {
    const read = async (start, end) => {
      const buffer = await blob.slice(start, end).arrayBuffer();
      if (buffer.byteLength !== end - start) throw "the file changed while it was read";
      return buffer;
    };
    return readAhead(blob.size, SLICE, AHEAD, read, async (buffer) => {
      let resumed = now();
      for (let at = 0; at < buffer.byteLength && !ended; at += BUFFER) {
        if (now() - resumed > BUDGET) {
          await new Promise((r) => setTimeout(r, 0));
          resumed = now();
        }
        feed(READ, HASH, 0, new Uint8Array(buffer, at, Math.min(BUFFER, buffer.byteLength - at)));
      }
      return !ended;
    });
  }

  listen("add");
  if (signal?.aborted) abort();
  else wake();
  return result;
}

/**
 * Reads bytes 0..size in order, `span` at a time (`read(start, end)`: a
 * promise), with `ahead` reads in flight whenever one is awaited (that one
 * included), and awaits `use` with what each gave, in turn, until `use`
 * returns false (then false) or all is used (true). A read that fails
 * rejects; one still in flight when the pass ended fails unheard. The
 * page's pass and the reading Worker's read through it (the Worker gets
 * its source: it uses nothing but its arguments).
 */
async function readAhead(size, span, ahead, read, use) {
  const reads = [];
  for (let requested = 0; ; ) {
    while (reads.length < ahead && requested < size) {
      const end = Math.min(requested + span, size);
      const next = read(requested, end);
      next.catch(() => {});
      reads.push(next);
      requested = end;
    }
    if (!reads.length) return true;
    if (!(await use(await reads.shift()))) return false;
  }
}

// The page's reading Worker (read-worker.js says how it reads and hashes,
// and its messages), made on first use: undefined before, null where none
// can be made or once it failed (then the page hashes for itself).
let worker;

function readWorker(workerCode) {
  if (worker === undefined) {
    worker = null;
    try {
      // read-worker.js's function: its source, called with readAhead's.
      const w = new Worker(URL.createObjectURL(new Blob([`(${workerCode})(${readAhead})`])));
      const shared = { w, inboxes: new Map(), id: 0 };
      w.onmessage = ({ data }) => shared.inboxes.get(data.id)?.(data);
      w.onerror = () => {
        worker = null;
        for (const inbox of shared.inboxes.values()) inbox(null);
      };
      worker = shared;
    } catch {
      // No Worker here (a Content Security Policy without blob: in worker-src).
    }
  }
  return worker;
}

// Values the module hands to the page, built here: one binding each, where
// the module would set their fields one by one (src/web/js.rs).

/** An effect of `poll()` (see the top of this file). */
export const effect = (k, t, u, a, b, p) => ({ k, t, u, a, b, p });

/** upload()'s result. */
export const uploaded = (fileId, url, fileSha, instant, resumed, rehashed, partsUploaded, partsSkipped, bytesUploaded) => ({
  fileId,
  url,
  fileSha,
  instant,
  resumed,
  rehashed,
  partsUploaded,
  partsSkipped,
  bytesUploaded,
});

/** What getSignature is called with. */
export const signInfo = (f, ft, fs, fileName, fileSize) => ({ f, ft, fs, fileName, fileSize });

/** Calls onProgress with its event; a callback that throws is logged, not allowed to break the upload. */
export function progress(onProgress, stage, loaded, total, bytesPerSecond, waiting) {
  try {
    onProgress({ stage, loaded, total, bytesPerSecond, waiting });
  } catch (error) {
    console.error("vod-ugc-upload: onProgress threw; the upload goes on.", error);
  }
}

/** The rejection of a call that failed: an Error named UgcError. */
export function ugcError(message, code, canRetry, stage) {
  const error = new Error(message);
  error.name = "UgcError";
  error.code = code;
  error.canRetry = canRetry;
  error.stage = stage;
  return error;
}

/** The rejection of an aborted call: a DOMException named AbortError whose cause is the signal's reason. */
export function abortError(signal) {
  let error;
  try {
    error = new DOMException("The upload was aborted.", "AbortError");
  } catch {
    error = new Error("The upload was aborted.");
    error.name = "AbortError";
  }
  error.cause = signal?.reason;
  return error;
}

/** The base URL fetch resolves against: the page's, or a Worker's location; none in Node.js. */
export function baseUrl() {
  const base = globalThis.document?.baseURI;
  return typeof base === "string" ? base : globalThis.location?.href;
}

/** `url` resolved as fetch would, or undefined if it is not a URL. */
export function resolveUrl(url) {
  try {
    return new URL(url, baseUrl()).href;
  } catch {
    // undefined: not a URL
  }
}

/** `value[key]`, or undefined where value is not an object (or a getter throws). */
export function field(value, key) {
  try {
    return Reflect.get(value, key);
  } catch {
    // undefined
  }
}

/** `value[key]` if it is a string. */
function text(value, key) {
  const found = field(value, key);
  return typeof found === "string" ? found : undefined;
}

/** A short text for a thrown value: `Name: message`, or its string form. */
export function describe(value) {
  const name = text(value, "name");
  const message = text(value, "message");
  if (name !== undefined) return message ? `${name}: ${message}` : name;
  return message ?? String(value);
}

/** A short name for the kind of a value, for messages: "a string", "null", "a Date", ... */
export function kindOf(value) {
  if (value === undefined || value === null) return String(value);
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "function") return "a function";
  const name = text(field(value, "constructor"), "name");
  return name ? `a ${name}` : "an object";
}

/**
 * The first own key of the options object not among `known` (names joined
 * by ", ") whose value is not undefined or null: a typo.
 */
export function unknownOption(options, known) {
  const names = known.split(", ");
  return Object.keys(options).find((key) => !names.includes(key) && field(options, key) != null);
}
