// vod-ugc-upload demo: plain JS, no bundler. The package is the build in
// /pkg/ (served by `vod-ugc-server --pkg pkg`); an app would write
//   import { upload, codes } from "/pkg/vod_ugc_upload.js";
// (upload() loads the .wasm on first use). We import it dynamically and call
// init() at once, so that a missing build or an old browser shows a readable
// message before any file is picked.

const PKG_URL = "/pkg/vod_ugc_upload.js";
const ENDPOINT = new URL("/v2/index.php", location.origin).href;

const $ = (sel, root = document) => root.querySelector(sel);

const els = {
  status: $("#module-status"),
  input: $("#file-input"),
  label: $("#file-label"),
  dropzone: $("#dropzone"),
  list: $("#upload-list"),
  empty: $("#empty"),
  clearDone: $("#clear-done"),
  partSize: $("#opt-part-size"),
  parallelFiles: $("#opt-parallel-files"),
  concurrency: $("#opt-concurrency"),
  template: $("#row-template"),
};

let uploadFn = null;
/** The package's error codes by name (`codes.SIGNATURE_INVALID`...), set once it is loaded. */
let codes = {};
const items = [];
let nextId = 1;

// ---------------------------------------------------------------- formatting

function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do { v /= 1000; i++; } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function formatSpeed(bps) {
  if (!Number.isFinite(bps) || bps <= 0) return "";
  return `${(bps / 1e6).toFixed(bps < 1e7 ? 2 : 1)} MB/s`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

const STAGE_LABEL = { hash: "Hashing", upload: "Uploading", finish: "Finishing" };

// ---------------------------------------------------------------- errors

/** A message a person can read: never a stack, never "[object Object]". */
function errorMessage(err) {
  let msg = "";
  if (typeof err === "string") msg = err;
  else if (err && typeof err === "object" && typeof err.message === "string") msg = err.message;
  msg = msg
    .split("\n")
    .filter((line) => !/^\s*at\s/.test(line))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
  if (!msg || msg.includes("[object Object]")) msg = "The upload failed for an unknown reason.";
  return msg;
}

/** What the person can do about it, from the error's code and stage. */
function errorHint(err) {
  const code = err && typeof err.code === "number" ? err.code : undefined;
  switch (code) {
    case codes.BAD_INPUT:
      return "This file can't be uploaded (it is empty or not a file). Pick another one.";
    case codes.SIGNATURE_FAILED:
      return "No signature could be had. Check that the server is running, with --dev-signer (npm start does both), then Retry.";
    case codes.NETWORK_FAILED:
      return "The server could not be reached. Check that it is running (npm start) and that this device is online, then Retry: parts already stored are not sent again.";
    case codes.TIMED_OUT:
      return "The server took too long to answer. Check the connection and the server, then Retry.";
    case codes.BAD_ANSWER:
      return "The server's answer was not understood. Check that the endpoint is a UGC upload server (this page uses /v2/index.php on the same server) and look at the server's log.";
    case codes.FILE_UNREADABLE:
      return "The file could not be read: it was changed, moved or deleted since it was picked. Pick it again: the upload resumes where it stopped.";
    case codes.COMMON_PARAMS_INVALID:
    case codes.PROTOCOL_PARAMS_INVALID:
      return "The server refused the request's parameters. Pick the file again; if it keeps failing, report it with the file's size.";
    case codes.SIGNATURE_INVALID:
      return "The server refused the signature (another key, expired, or for another file). Check that the signer and the server use the same SecretId and SecretKey, then pick the file again.";
    case codes.STATE_WRITE_FAILED:
      return "The server could not save the upload. Check its data folder (free space, permissions), then Retry.";
    case codes.STATE_READ_FAILED:
      return "The server has no record of this upload (its data folder may have been cleared). Pick the file again to start over.";
    case codes.PART_BODY_INVALID:
      return "A part arrived damaged on the way. Retry: only missing parts are sent.";
    default:
      break;
  }
  const stage = err && err.stage;
  if (stage === "hash" || stage === "input") {
    return "The file could not be read. It may have been moved or changed: pick it again.";
  }
  if (stage === "sign") return "Getting a signature failed. Check the signer (/signature) and try again.";
  if (err && err.canRetry) return "This looks like a passing failure: Retry in a moment.";
  return "Pick the file again, or look at the server's log for the cause.";
}

// ---------------------------------------------------------------- signing

/** The app backend's job in a real app; here the server's development signer. */
async function getSignature(info) {
  const query = new URLSearchParams({ f: info.f, ft: info.ft, fs: info.fs, uid: "demo" });
  let res;
  try {
    res = await fetch("/signature?" + query);
  } catch {
    throw new Error("the signing server at /signature could not be reached");
  }
  if (!res.ok) {
    throw new Error(
      `the signer answered HTTP ${res.status}` +
        (res.status === 404 ? " (is the server running with --dev-signer?)" : ""),
    );
  }
  const body = await res.json();
  if (!body || typeof body.signature !== "string") throw new Error("the signer's answer carries no signature");
  return body.signature;
}

// ---------------------------------------------------------------- rows

function previewKind(file) {
  const type = (file.type || "").toLowerCase();
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  if (type.startsWith("video/") || ["mp4", "m4v", "webm", "mov", "ogv", "mkv"].includes(ext)) return "video";
  if (type.startsWith("audio/") || ["mp3", "m4a", "aac", "wav", "ogg", "oga", "flac"].includes(ext)) return "audio";
  if (type.startsWith("image/") || ["png", "jpg", "jpeg", "gif", "webp", "avif", "svg"].includes(ext)) return "image";
  return null;
}

function createItem(file) {
  const row = els.template.content.firstElementChild.cloneNode(true);
  const item = {
    id: nextId++,
    file,
    row,
    state: "queued",
    attempts: 0,
    controller: null,
    lastPaint: 0,
    f: {
      name: $(".file-name", row),
      size: $(".file-size", row),
      stage: $(".stage", row),
      bar: $("progress", row),
      percent: $(".percent", row),
      stats: $(".stats", row),
      speed: $(".speed", row),
      eta: $(".eta", row),
      noteLine: $(".note-line", row),
      outcome: $(".outcome", row),
      cancel: $(".btn-cancel", row),
      resume: $(".btn-resume", row),
      retry: $(".btn-retry", row),
      remove: $(".btn-remove", row),
    },
  };
  row.dataset.id = String(item.id);
  item.f.name.textContent = file.name || "(unnamed)";
  item.f.name.title = file.name;
  item.f.size.textContent = formatBytes(file.size);
  const barId = `bar-${item.id}`;
  item.f.bar.id = barId;
  item.f.bar.setAttribute("aria-label", `Progress of ${file.name}`);
  item.f.cancel.setAttribute("aria-label", `Cancel upload of ${file.name}`);
  item.f.resume.setAttribute("aria-label", `Resume upload of ${file.name}`);
  item.f.retry.setAttribute("aria-label", `Retry upload of ${file.name}`);
  item.f.remove.setAttribute("aria-label", `Remove ${file.name} from the list`);

  item.f.cancel.addEventListener("click", () => cancel(item));
  item.f.resume.addEventListener("click", () => requeue(item));
  item.f.retry.addEventListener("click", () => requeue(item));
  item.f.remove.addEventListener("click", () => remove(item));
  return item;
}

function setState(item, state) {
  item.state = state;
  item.row.dataset.state = state;
  const { cancel, resume, retry, remove } = item.f;
  cancel.hidden = !(state === "queued" || state === "running");
  resume.hidden = state !== "cancelled";
  retry.hidden = true; // shown by showFailure when the error says it may pass
  remove.hidden = state === "queued" || state === "running";
  els.clearDone.hidden = !items.some((it) => it.state === "done");
}

function paintProgress(item, p, force) {
  item.lastProgress = p;
  const now = performance.now();
  const complete = p.total > 0 && p.loaded >= p.total;
  if (!force && !complete && now - item.lastPaint < 100) return;
  item.lastPaint = now;
  const { stage, bar, percent, speed, eta, stats } = item.f;
  stats.hidden = false;
  stage.textContent = STAGE_LABEL[p.stage] || p.stage;
  const pct = p.total > 0 ? Math.min(100, (p.loaded / p.total) * 100) : 0;
  bar.value = pct;
  bar.setAttribute("aria-valuetext", `${STAGE_LABEL[p.stage] || p.stage}: ${Math.floor(pct)}%`);
  percent.textContent = `${Math.floor(pct)}%`;
  speed.textContent = formatSpeed(p.bytesPerSecond);
  const left = p.bytesPerSecond > 0 ? (p.total - p.loaded) / p.bytesPerSecond : NaN;
  eta.textContent = complete ? "" : left >= 0 ? `${formatDuration(left)} left` : "";
}

/** After a failure or cancel, keep the upload's progress; hashing's says nothing. */
function settleProgress(item) {
  const p = item.lastProgress;
  if (p && (p.stage === "upload" || p.stage === "finish")) {
    const label = item.f.stage.textContent;
    paintProgress(item, p, true);
    item.f.stage.textContent = label;
  } else {
    item.f.bar.value = 0;
    item.f.percent.textContent = "";
  }
  item.f.bar.setAttribute("aria-valuetext", item.f.stage.textContent);
}

function clearStats(item) {
  item.f.stats.hidden = true;
  item.f.speed.textContent = "";
  item.f.eta.textContent = "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function showSuccess(item, result) {
  setState(item, "done");
  const { stage, bar, percent, noteLine, outcome } = item.f;
  stage.textContent = "Done";
  bar.value = 100;
  bar.setAttribute("aria-valuetext", "Done");
  percent.textContent = "100%";
  clearStats(item);
  noteLine.textContent = "";

  let kind;
  if (result.instant) {
    kind = el("span", { class: "badge instant" }, "Instant: the server already had this file, nothing was sent");
  } else if (result.resumed || result.partsSkipped > 0) {
    kind = el(
      "span",
      { class: "badge resumed skipped" },
      `Resumed: ${result.partsSkipped} part${result.partsSkipped === 1 ? "" : "s"} skipped, ${result.partsUploaded} sent`,
    );
  } else {
    kind = el(
      "span",
      { class: "badge fresh" },
      `Fresh upload: ${result.partsUploaded} part${result.partsUploaded === 1 ? "" : "s"} sent`,
    );
  }

  const link = el("a", { class: "file-url", href: result.url, target: "_blank", rel: "noopener" }, result.url);
  const dl = el(
    "dl",
    { class: "result" },
    el("dt", {}, "File ID"),
    el("dd", { class: "file-id" }, String(result.fileId)),
    el("dt", {}, "URL"),
    el("dd", {}, link),
    el("dt", {}, "Upload"),
    el("dd", {}, kind),
  );
  outcome.replaceChildren(dl);

  const kindOfPreview = previewKind(item.file);
  if (kindOfPreview === "video" || kindOfPreview === "audio") {
    const media = el(kindOfPreview, {
      class: "preview",
      controls: "",
      preload: "metadata",
      src: result.url,
      "aria-label": `Preview of ${item.file.name}`,
    });
    media.addEventListener("error", () => {
      media.replaceWith(
        el("p", { class: "hint" }, "This browser can't play this format; the link above still serves the file."),
      );
    });
    outcome.append(media);
  } else if (kindOfPreview === "image") {
    outcome.append(el("img", { class: "preview", src: result.url, alt: `Preview of ${item.file.name}` }));
  }
}

function showFailure(item, err) {
  setState(item, "failed");
  const { stage, noteLine, outcome, retry } = item.f;
  stage.textContent = "Failed";
  settleProgress(item);
  clearStats(item);
  noteLine.textContent = "";
  const details = [];
  if (err && typeof err.code === "number") details.push(`code ${err.code}`);
  if (err && typeof err.stage === "string") details.push(`while ${describeStage(err.stage)}`);
  const box = el(
    "div",
    { class: "error", role: "alert" },
    el("p", { class: "error-message" }, errorMessage(err)),
    el("p", { class: "error-hint" }, errorHint(err)),
  );
  if (details.length) box.append(el("p", { class: "error-code" }, details.join(" · ")));
  outcome.replaceChildren(box);
  retry.hidden = !(err && err.canRetry === true);
}

function describeStage(stage) {
  return (
    {
      input: "checking the file",
      hash: "hashing",
      sign: "getting the signature",
      init: "starting the upload",
      part: "sending parts",
      finish: "finishing",
    }[stage] || stage
  );
}

function showCancelled(item) {
  setState(item, "cancelled");
  item.f.stage.textContent = "Cancelled";
  settleProgress(item);
  clearStats(item);
  item.f.outcome.replaceChildren(
    el("p", { class: "hint" }, "Cancelled. Parts already sent stay on the server: Resume skips them."),
  );
  // The Cancel button just disappeared: keep keyboard focus in the row.
  if (item.focusAfterCancel && (document.activeElement === document.body || document.activeElement === item.f.cancel)) {
    item.f.resume.focus({ preventScroll: true });
  }
  item.focusAfterCancel = false;
}

// ---------------------------------------------------------------- queue

function addFiles(fileList) {
  const files = Array.from(fileList || []);
  if (!files.length) return;
  for (const file of files) {
    const item = createItem(file);
    items.push(item);
    els.list.append(item.row);
    setState(item, "queued");
  }
  els.empty.hidden = true;
  pump();
}

function pump() {
  if (!uploadFn) return;
  const limit = Number(els.parallelFiles.value) || 1;
  let running = items.filter((it) => it.state === "running").length;
  for (const item of items) {
    if (running >= limit) break;
    if (item.state === "queued") {
      running++;
      run(item);
    }
  }
}

async function run(item) {
  item.attempts++;
  const controller = new AbortController();
  item.controller = controller;
  setState(item, "running");
  item.f.outcome.replaceChildren();
  item.lastProgress = null;
  item.f.stage.textContent = "Starting";
  item.f.stats.hidden = false;
  item.f.noteLine.textContent = item.attempts > 1 ? "Resuming: only parts the server lacks are sent" : "";
  try {
    const result = await uploadFn(item.file, {
      getSignature,
      endpoint: ENDPOINT,
      partSize: Number(els.partSize.value),
      concurrency: Number(els.concurrency.value),
      signal: controller.signal,
      onProgress: (p) => {
        if (item.controller === controller) paintProgress(item, p, false);
      },
    });
    if (item.controller === controller) showSuccess(item, result);
  } catch (err) {
    if (item.controller !== controller) return; // removed meanwhile
    if (err && err.name === "AbortError") showCancelled(item);
    else showFailure(item, err);
  } finally {
    if (item.controller === controller) item.controller = null;
    pump();
  }
}

function cancel(item) {
  item.focusAfterCancel = document.activeElement === item.f.cancel;
  if (item.state === "queued") {
    showCancelled(item);
  } else if (item.state === "running" && item.controller) {
    item.f.stage.textContent = "Cancelling";
    item.controller.abort();
  }
}

function requeue(item) {
  if (item.state !== "cancelled" && item.state !== "failed") return;
  item.f.outcome.replaceChildren();
  setState(item, "queued");
  item.f.stage.textContent = "Queued";
  pump();
}

function remove(item) {
  const controller = item.controller;
  item.controller = null;
  if (controller) controller.abort();
  const i = items.indexOf(item);
  if (i >= 0) items.splice(i, 1);
  item.row.remove();
  els.empty.hidden = items.length > 0;
  els.clearDone.hidden = !items.some((it) => it.state === "done");
  pump();
}

// ---------------------------------------------------------------- wiring

els.input.addEventListener("change", () => {
  addFiles(els.input.files);
  els.input.value = ""; // picking the same file again fires change again
});

els.clearDone.addEventListener("click", () => {
  for (const item of items.filter((it) => it.state === "done")) remove(item);
});

els.parallelFiles.addEventListener("change", pump);

let dragDepth = 0;
window.addEventListener("dragenter", (e) => {
  if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
  e.preventDefault();
  dragDepth++;
  els.dropzone.classList.add("dragging");
});
window.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) els.dropzone.classList.remove("dragging");
});
window.addEventListener("dragover", (e) => {
  if (!e.dataTransfer) return;
  e.preventDefault(); // lets the drop happen anywhere on the page
  e.dataTransfer.dropEffect = uploadFn ? "copy" : "none";
});
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  els.dropzone.classList.remove("dragging");
  if (uploadFn && e.dataTransfer) addFiles(e.dataTransfer.files);
});

window.addEventListener("beforeunload", (e) => {
  if (items.some((it) => it.state === "running")) e.preventDefault();
});

function setBanner(kind, text) {
  els.status.className = `banner ${kind}`;
  els.status.textContent = text;
  els.status.hidden = false;
}

async function loadModule() {
  if (location.protocol === "file:") {
    setBanner(
      "error",
      "This page is opened as a file: browsers don't load modules or upload from file:// pages. " +
        "Run `npm start` and open http://127.0.0.1:8080/ instead.",
    );
    return;
  }
  try {
    const mod = await import(PKG_URL);
    await mod.default();
    uploadFn = mod.upload;
    codes = mod.codes;
  } catch (err) {
    setBanner(
      "error",
      `The upload module could not be loaded from ${PKG_URL} (${errorMessage(err)}). ` +
        "Build it and serve this page with `npm start` (the server's --pkg pkg option serves it).",
    );
    return;
  }
  els.status.hidden = true;
  els.status.className = "banner";
  els.status.textContent = "";
  els.input.disabled = false;
  els.label.classList.remove("disabled");
  document.body.dataset.ready = "true";
  pump();
}

els.label.classList.add("disabled");
loadModule();
