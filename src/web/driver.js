// Performs the I/O of one call of upload() or hashFile() for its job in the
// module (src/web/call.rs, src/job.rs, src/transfer.rs: every decision is
// there): polls it for the next effect, does it, and feeds back what ends.
// Effects {k, t, u, a, b, p, v, w}: k 0 send (a GET to u, or a POST of bytes
// a..b of the file), 1 read bytes a..b, 2 wait for promise p, 3 wait (until
// time u, or until something ends), 4 the end (resolve with v if u, else
// reject), 5 read the whole file, in order (the reading Worker's script w).
// t names the request or read in what is fed back.

const now = () => performance.now();
/** Bytes per buffer the reading Worker fills: what is hashed in one task. */
const BUFFER = 4 << 20;
/** Buffers per reading: its memory, and how far reading runs ahead. */
const BUFFERS = 4;
/** Without the Worker: bytes per read on the page, and reads in flight. */
const SLICE = 8 << 20;
const AHEAD = 2;
/** Longest run of hashing in one task, in ms: then the page gets a turn. */
const BUDGET = 10;
/** The target of the pass over the whole file (src/web/call.rs). */
const HASH = -4;

export function drive(s, blob, stallMs, signal) {
  const g = globalThis;
  // Cancels each request (and the pass over the file) in flight.
  const live = new Map();
  let ended, busy, timer, settle;
  const result = new Promise((resolve, reject) => (settle = (v, ok) => (ok ? resolve : reject)(v)));

  // Feeds one result (or nothing: a wake), then starts what follows. A
  // callback of the page run from a poll (onProgress, getSignature) that
  // aborts comes back here: that waits for the poll to return.
  const feed = (f) => {
    if (ended) return;
    if (busy) return queueMicrotask(() => feed(f));
    busy = true;
    try {
      s.online(g.navigator?.onLine !== false);
      f();
      step();
    } finally {
      busy = false;
    }
  };
  const wake = () => feed(() => {});
  const abort = () => feed(() => s.abort());
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
              (buffer) => feed(() => s.read(t, new Uint8Array(buffer))),
              (error) => feed(() => s.unreadable(error)),
            );
          break;
        case 2:
          e.p.then(
            (value) => feed(() => s.settled(value, true)),
            (error) => feed(() => s.settled(error, false)),
          );
          break;
        case 3:
          if (e.u !== undefined) timer = setTimeout(wake, e.u - now());
          return;
        case 5:
          hash(e.w);
          break;
        default:
          ended = true;
          listen("remove");
          for (const cancel of live.values()) cancel();
          s.free();
          return settle(e.v, e.u);
      }
    }
  }

  // Ends request t with f's result, unless it was cancelled.
  const done = (t, f) => live.delete(t) && feed(f);

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
      done(t, () => s.reply(t, response.status, response.headers.get("content-type") ?? "", bytes));
    } catch (error) {
      done(t, () => s.failed(t, stalled ? undefined : error));
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
        feed(() => s.sent(t, event.loaded));
      };
      x.onreadystatechange = x.onprogress = () => dog.kick();
      x.onloadend = () => {
        quiet();
        done(t, () =>
          x.status
            ? s.reply(t, x.status, x.getResponseHeader("content-type") ?? "", new Uint8Array(x.response ?? 0))
            : s.failed(t, "XMLHttpRequest failed (network error)"),
        );
      };
      dog = watchdog(() => {
        quiet();
        x.abort();
        done(t, () => s.failed(t, undefined));
      });
      x.send(body);
    } catch (error) {
      // It could not start: a network failure, as fetch would say.
      quiet();
      done(t, () => s.failed(t, error));
    }
  }

  // The pass over the whole file: fed in steps of at most BUFFER bytes, in
  // tasks of at most BUDGET ms (a long task makes the page feel stuck).
  async function hash(script) {
    const reader = read(blob, script);
    live.set(HASH, reader.close);
    try {
      for (let chunk; (chunk = await reader.next()); reader.giveBack(chunk.buffer)) {
        let resumed = now();
        for (let at = 0; at < chunk.len && !ended; at += BUFFER) {
          if (now() - resumed > BUDGET) {
            await new Promise((r) => setTimeout(r, 0));
            resumed = now();
          }
          const bytes = new Uint8Array(chunk.buffer, at, Math.min(BUFFER, chunk.len - at));
          feed(() => s.read(HASH, bytes));
        }
        if (ended) return;
      }
      live.delete(HASH);
      feed(() => s.hashed());
    } catch (error) {
      feed(() => s.unreadable(error));
    } finally {
      reader.close();
    }
  }

  listen("add");
  if (signal?.aborted) abort();
  else wake();
  return result;
}

// The page's reading Worker (read-worker.js says how it reads, and its
// messages), made on first use: undefined before, null where none can be
// made or once it failed (then the page reads for itself).
let worker;

function readWorker(script) {
  if (worker === undefined) {
    worker = null;
    try {
      const w = new Worker(URL.createObjectURL(new Blob([script])));
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

// Reads `blob` front to back: next() gives {buffer, len} (the next `len`
// bytes are the first of `buffer`; give it back once done with it), or
// null at the end; it throws when the file cannot be read. A file of at
// most one buffer is read on the page (quicker than a trip to the Worker),
// as is every file with `globalThis.__vodUgcUploadNoWorker`, and the rest
// of one whose Worker failed. `globalThis.__vodUgcUploadRead` goes to the
// Worker: how it reads, for tests and the benchmark.
function read(blob, script) {
  const g = globalThis;
  const size = blob.size;
  let delivered = 0;
  let requested = 0;
  const reads = [];
  let rw = size > BUFFER && !g.__vodUgcUploadNoWorker ? readWorker(script) : null;
  let id;
  const arrived = [];
  let broken, wake;
  if (rw) {
    id = rw.id++;
    rw.inboxes.set(id, (data) => {
      if (data) arrived.push(data);
      else broken = true;
      wake?.();
    });
    const hooks = g.__vodUgcUploadRead;
    rw.w.postMessage({ id, blob, n: BUFFERS, size: BUFFER, mode: hooks?.mode, hooks });
  }
  const close = () => {
    if (!rw) return;
    rw.inboxes.delete(id);
    rw.w.postMessage({ id, stop: true });
    rw = null;
  };
  // The next bytes from the Worker or the page: {buffer, len, done}, or
  // null when the page has read everything or the Worker failed.
  async function pull() {
    if (rw) {
      while (!arrived.length && !broken) await new Promise((r) => (wake = r));
      const data = arrived.shift();
      if (!data) return null;
      if (!data.buf) throw data.error ?? "the read failed";
      return { buffer: data.buf, len: data.len, done: data.done === 1 };
    }
    while (requested < size && reads.length < AHEAD) {
      const end = Math.min(requested + SLICE, size);
      reads.push(blob.slice(requested, end).arrayBuffer());
      requested = end;
    }
    if (!reads.length) return null;
    const buffer = await reads.shift();
    return { buffer, len: buffer.byteLength };
  }
  const giveBack = (buffer) => rw?.w.postMessage({ id, buf: buffer }, [buffer]);
  return {
    async next() {
      while (delivered < size) {
        const chunk = await pull();
        if (chunk) {
          const total = delivered + chunk.len;
          if (total > size || (chunk.done && total < size)) throw "the file changed while it was read";
          if (!chunk.len) {
            giveBack(chunk.buffer);
            continue;
          }
          delivered = total;
          return chunk;
        }
        if (!rw) throw `the file ended after ${delivered} of ${size} bytes`;
        // The Worker failed: read the rest on the page.
        close();
        requested = delivered;
      }
      return null;
    },
    giveBack,
    close,
  };
}
