#!/usr/bin/env node
// vod-ugc-upload FILE --endpoint URL --signature-url URL
//
// Uploads one file with the package's Node.js API: the file is read from
// disk as it goes (fs.openAsBlob), the signature is fetched from a URL that
// answers {"signature": "..."} for ?f=&ft=&fs= (like vod-ugc-server's
// --dev-signer), progress goes to stderr when it is a terminal, and the
// result goes to stdout as JSON. The exit code says what failed (see USAGE).

import { openAsBlob } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { codes, upload } from "./vod_ugc_upload_node.js";

/** Exit codes: one per kind of failure, so that scripts can tell them apart. */
const EXIT = {
  ok: 0,
  internal: 1, // not a UgcError: a bug, or the module could not load
  usage: 2, // bad arguments or option values
  file: 3, // the file cannot be read, is empty, or changed while it was read (-20006)
  signature: 4, // the signature URL failed or gave no signature
  network: 5, // network failure or timeout after all retries: run again to resume
  refused: 6, // the upload server refused the upload (its code is in the JSON)
  answer: 7, // the upload server's answer was not understood: check --endpoint
  interrupted: 130, // Ctrl-C: run again to resume
};

const USAGE = `Usage: vod-ugc-upload FILE --signature-url URL [--endpoint URL] [options]

Uploads FILE with the VOD UGC protocol and prints the result as JSON.

  --signature-url URL   answers {"signature": "..."} for GET URL?f=&ft=&fs=
                        (your backend, or vod-ugc-server --dev-signer's /signature)
  --endpoint URL        the UGC API (default https://vod2.qcloud.com/v2/index.php)
  --part-size N         524288 or 1048576 (default)
  --concurrency N       parts in flight, 1 to 16 (default 4)
  --retries N           extra tries per request, 0 to 20 (default 5)
  --timeout-ms N        request stall limit in ms (default 60000)
  --quiet               no progress line
  -h, --help            this text

Exit codes: 0 uploaded; 1 internal error; 2 bad arguments; 3 the file cannot be
read; 4 signing failed; 5 network failure or timeout (run again: it resumes);
6 the server refused the upload; 7 the server's answer was not understood;
130 interrupted (run again: it resumes). On a failure, stdout has
{"error": {"name", "code", "canRetry", "stage", "message"}}.
`;

function fail(exit, message, error) {
  if (error) process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
  process.stderr.write(`vod-ugc-upload: ${message}\n`);
  process.exit(exit);
}

/** The exit code for a rejection of upload(). */
function exitFor(error) {
  if (error?.name === "AbortError") return EXIT.interrupted;
  if (error?.name !== "UgcError" || error.code === codes.LOAD_FAILED) return EXIT.internal;
  switch (error.code) {
    case codes.BAD_INPUT:
      return error.stage === "input" ? EXIT.usage : EXIT.file;
    case codes.FILE_UNREADABLE:
      return EXIT.file;
    case codes.SIGNATURE_FAILED:
      return EXIT.signature;
    case codes.NETWORK_FAILED:
    case codes.TIMED_OUT:
      return EXIT.network;
    case codes.BAD_ANSWER:
      return EXIT.answer;
    default:
      return error.stage === "hash" ? EXIT.file : EXIT.refused;
  }
}

/** Asks the signature URL for this file's signature. */
function signer(signatureUrl) {
  return async ({ f, ft, fs }) => {
    const url = new URL(signatureUrl);
    url.searchParams.set("f", f);
    url.searchParams.set("ft", ft);
    url.searchParams.set("fs", fs);
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url.origin}${url.pathname} answered HTTP ${response.status}`);
    const { signature } = await response.json();
    return signature;
  };
}

/** A one-line progress display on a terminal: "upload  42 %  12.3 MB/s". */
function progressLine(stream) {
  let last = 0;
  return ({ stage, loaded, total, bytesPerSecond }) => {
    const now = Date.now();
    if (now - last < 100 && loaded !== total) return;
    last = now;
    const percent = total ? Math.floor((loaded / total) * 100) : 100;
    const rate = bytesPerSecond ? `  ${(bytesPerSecond / 1e6).toFixed(1)} MB/s` : "";
    stream.write(`\r\x1b[K${stage.padEnd(6)} ${String(percent).padStart(3)} %${rate}`);
  };
}

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        "signature-url": { type: "string" },
        endpoint: { type: "string" },
        "part-size": { type: "string" },
        concurrency: { type: "string" },
        retries: { type: "string" },
        "timeout-ms": { type: "string" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    fail(EXIT.usage, `${error.message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length !== 1) fail(EXIT.usage, `give exactly one FILE\n\n${USAGE}`);
  if (!values["signature-url"]) fail(EXIT.usage, `--signature-url is required\n\n${USAGE}`);
  if (!URL.canParse(values["signature-url"])) {
    fail(EXIT.usage, `--signature-url ${JSON.stringify(values["signature-url"])} is not an absolute URL`);
  }

  const path = positionals[0];
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    fail(EXIT.file, `cannot read ${path}: ${error.message}`);
  }
  if (!info.isFile()) fail(EXIT.file, `${path} is not a file`);
  if (info.size === 0) fail(EXIT.file, `${path} is empty: there is nothing to upload`);
  // A File keeps the name for the signature; its bytes stay on disk.
  const file = new File([await openAsBlob(path)], basename(path));

  const options = { getSignature: signer(values["signature-url"]) };
  if (values.endpoint !== undefined) options.endpoint = values.endpoint;
  for (const [flag, option] of [
    ["part-size", "partSize"],
    ["concurrency", "concurrency"],
    ["retries", "retries"],
    ["timeout-ms", "timeoutMs"],
  ]) {
    if (values[flag] !== undefined) options[option] = Number(values[flag]);
  }
  const terminal = process.stderr.isTTY && !values.quiet;
  if (terminal) options.onProgress = progressLine(process.stderr);

  // Ctrl-C aborts cleanly (the server keeps the parts it has); twice quits at once.
  const controller = new AbortController();
  options.signal = controller.signal;
  process.once("SIGINT", () => {
    controller.abort();
    process.once("SIGINT", () => process.exit(EXIT.interrupted));
  });

  try {
    const result = await upload(file, options);
    if (terminal) process.stderr.write("\r\x1b[K");
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (error) {
    if (terminal) process.stderr.write("\r\x1b[K");
    const exit = exitFor(error);
    if (exit === EXIT.interrupted) fail(exit, "interrupted; run the same command again to resume");
    const { name, code, canRetry, stage, message } = error ?? {};
    fail(exit, message ?? String(error), { name, code, canRetry, stage, message });
  }
}

await main();
