// Performs one upload's I/O for its transfer in the module (src/web/upload.rs,
// src/transfer.rs: every decision is there): polls it for the next effect,
// does it (a request, a read of the file, a signature, a wait), and feeds
// back what ends. Effects: {k, t, u, a, b, p}: k 0 send (a GET to u, or a
// POST of bytes a..b of the file), 1 read bytes a..b, 2 the promise p of a
// signature, 3 wait (until time u, or until something ends), 4 the end.
// t names the request or read in what is fed back.

const now = () => performance.now();

export function drive(s, blob, stallMs, signal) {
  const g = globalThis;
  // Cancels each request in flight, by target.
  const live = new Map();
  let ended, busy, timer, resolve;
  const end = new Promise((r) => (resolve = r));

  // Feeds one result (or nothing: a wake), then starts what follows. A
  // callback of the page run from a poll (onProgress, getSignature) that
  // aborts, comes back here: that waits for the poll to return.
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
            (value) => feed(() => s.signed(value, true)),
            (error) => feed(() => s.signed(error, false)),
          );
          break;
        case 3:
          if (e.u !== undefined) timer = setTimeout(wake, e.u - now());
          return;
        default:
          ended = true;
          listen("remove");
          for (const cancel of live.values()) cancel();
          s.free();
          return resolve();
      }
    }
  }

  // Ends request t with f's result, unless it was cancelled.
  const settle = (t, f) => live.delete(t) && feed(f);

  // A request with fetch: the stall limit runs until the headers, then
  // again until the whole body (fetch tells nothing while a body goes out).
  async function request(t, method, url, body) {
    const controller = new AbortController();
    let stalled, timeout;
    live.set(t, () => controller.abort());
    const within = (promise) => {
      timeout = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, stallMs);
      return promise.finally(() => clearTimeout(timeout));
    };
    try {
      const response = await within(fetch(url, { method, body, signal: controller.signal }));
      const bytes = new Uint8Array(await within(response.arrayBuffer()));
      settle(t, () => s.reply(t, response.status, response.headers.get("content-type") ?? "", bytes));
    } catch (error) {
      settle(t, () => s.failed(t, stalled ? undefined : error));
    }
  }

  // A part with XMLHttpRequest: its upload events tell the bytes sent, and
  // it fails only when no byte moved, either way, for the stall limit.
  function post(t, url, body) {
    const x = new XMLHttpRequest();
    let moved = now();
    let timeout;
    const quiet = () => {
      x.upload.onprogress = x.onprogress = x.onreadystatechange = x.onloadend = null;
      clearTimeout(timeout);
    };
    const watch = (ms) => {
      timeout = setTimeout(() => {
        const still = now() - moved;
        if (still < stallMs) return watch(stallMs - still);
        quiet();
        x.abort();
        settle(t, () => s.failed(t, undefined));
      }, ms);
    };
    live.set(t, () => {
      quiet();
      x.abort();
    });
    x.open("POST", url);
    x.responseType = "arraybuffer";
    x.upload.onprogress = (event) => {
      moved = now();
      feed(() => s.sent(t, event.loaded));
    };
    // Headers and each chunk of the answer count as bytes moving too.
    x.onreadystatechange = x.onprogress = () => (moved = now());
    x.onloadend = () => {
      quiet();
      settle(t, () =>
        x.status
          ? s.reply(t, x.status, x.getResponseHeader("content-type") ?? "", new Uint8Array(x.response ?? 0))
          : s.failed(t, "XMLHttpRequest failed (network error)"),
      );
    };
    x.send(body);
    watch(stallMs);
  }

  listen("add");
  if (signal?.aborted) abort();
  else wake();
  return end;
}
