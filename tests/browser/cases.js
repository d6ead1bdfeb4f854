// Browser test cases of the wasm module, written the way a page uses the
// API: `upload(file, options)` and `hashFile(file, options)`. They run inside
// the page (wasm-bindgen-test) against the real vod-ugc-server, started by
// scripts/test-browser.sh on loopback, on another origin than the page.
//
// Each case is an async function that throws on failure.

const MIB = 1048576;

/** Deterministic pseudo-random bytes (xorshift32), distinct per seed. */
function bytes(size, seed) {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x; out[i + 1] = x >>> 8; out[i + 2] = x >>> 16; out[i + 3] = x >>> 24;
  }
  return out;
}

function makeFile(size, seed, name = `clip-${seed}.mp4`) {
  return new File([bytes(size, seed)], name, { type: "video/mp4" });
}

async function webCryptoSha1(data) {
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
  const digest = await crypto.subtle.digest("SHA-1", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function assertEq(actual, expected, message) {
  if (actual !== expected) {
    throw new Error(`${message}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Asks the server's dev signer, as an app would ask its backend. */
function signer(server, override = {}) {
  return async (info) => {
    const query = new URLSearchParams({ f: info.f, ft: info.ft, fs: info.fs, uid: "test", ...override });
    const answer = await fetch(`${server}/signature?${query}`);
    if (!answer.ok) throw new Error(`dev signer answered HTTP ${answer.status}`);
    return (await answer.json()).signature;
  };
}

function options(env, extra = {}, endpoint = `${env.server}/v2/index.php`) {
  return { getSignature: signer(env.server), endpoint, retryDelayMs: 20, ...extra };
}

/** Records progress reports and checks the contract on them. */
function progressRecorder() {
  const events = [];
  return {
    events,
    onProgress: (p) => events.push({ ...p }),
    check(stages, totals) {
      for (const stage of stages) {
        const mine = events.filter((e) => e.stage === stage);
        assert(mine.length > 0, `a ${stage} report`);
        for (let i = 1; i < mine.length; i++) {
          assert(mine[i].loaded >= mine[i - 1].loaded, `${stage} progress is monotonic`);
        }
        const last = mine[mine.length - 1];
        assertEq(last.loaded, last.total, `${stage} ends at total`);
        assertEq(last.total, totals[stage], `${stage} total`);
        assert(mine.every((e) => typeof e.bytesPerSecond === "number" && e.bytesPerSecond >= 0), "bytesPerSecond");
        assert(mine.every((e) => e.waiting === null), "waiting is null on a steady loopback");
      }
      const order = events.map((e) => e.stage).filter((s, i, all) => i === 0 || all[i - 1] !== s);
      assertEq(order.join(","), stages.join(","), "stages come once each, in order");
    },
  };
}

async function expectRejection(promise, check) {
  let error;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert(error !== undefined, "the promise rejects");
  check(error);
  return error;
}

function expectUgcError(error, code, stage, canRetry) {
  assertEq(error.name, "UgcError", `error name (message: ${error.message})`);
  assert(error instanceof Error, "an Error");
  assertEq(error.code, code, `code (message: ${error.message})`);
  assertEq(error.stage, stage, "stage");
  if (canRetry !== undefined) assertEq(error.canRetry, canRetry, "canRetry");
  assert(typeof error.message === "string" && error.message.length > 20, "a message a person can act on");
  assert(!error.message.includes("[object"), "no [object Object] in the message");
}

/** Uploads and checks the result and the bytes served at `url`. */
async function uploadAndVerify(api, env, file, extra = {}) {
  const recorder = progressRecorder();
  const result = await api.upload(file, options(env, { onProgress: recorder.onProgress, ...extra }));
  const sha = await webCryptoSha1(file);
  assertEq(result.fileSha, sha, "fileSha");
  assertEq(typeof result.rehashed, "boolean", "rehashed is a boolean");
  assert(/^\d+$/.test(result.fileId), `fileId is decimal: ${result.fileId}`);
  const served = await fetch(result.url, { cache: "no-store" });
  assertEq(served.status, 200, "media status");
  const body = await served.arrayBuffer();
  assertEq(body.byteLength, file.size, "served size");
  assertEq(await webCryptoSha1(body), sha, "served bytes hash to fileSha");
  return { result, recorder };
}

/**
 * A getSignature that records its calls and signs call `i` for `ttls[i]`
 * seconds (the dev signer's `ttl`), or for a day past the list. A signature
 * given with a ttl is handed over only once its expiry is near enough that
 * it is refused at its first use after the current one expired.
 */
function expiringSigner(env, ttls) {
  const calls = [];
  const getSignature = async (info) => {
    const ttl = ttls[calls.length];
    const call = { info: { ...info }, expires: 0 };
    calls.push(call);
    const signature = await signer(env.server, ttl ? { ttl: String(ttl) } : {})(info);
    if (ttl) call.expires = Number(new URLSearchParams(atob(signature).slice(20)).get("e"));
    // A renewed signature that must fail is held until it has expired too.
    if (ttl && calls.length > 1) await sleepUntilExpired(call.expires);
    return signature;
  };
  return { getSignature, calls };
}

/** The server refuses a signature once its clock (whole seconds) passes `e`. */
function expiredAt(e) {
  return (e + 1) * 1000 + 50;
}

function sleepUntilExpired(e) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, expiredAt(e) - Date.now())));
}

/**
 * An onProgress that, at the first upload-stage report, blocks the page
 * until the first signature has expired: requests sent after it carry a
 * signature the server refuses.
 */
function holdUntilExpired(calls) {
  let held = false;
  return (p) => {
    if (held || p.stage !== "upload") return;
    held = true;
    const until = expiredAt(calls[0].expires);
    while (Date.now() < until) {
      // Busy: nothing else may run, so no part leaves before it expires.
    }
  };
}

/**
 * Starts an upload of `file` and aborts it once at least `bytes` of it are
 * stored (upload progress, one part at a time: `loaded` counts the bytes of
 * the part in flight too, so one part more), leaving a resumable upload on
 * the server and, unless `cache: false`, the file's hashes remembered.
 */
async function abortAfter(api, env, file, bytes, extra = {}) {
  const controller = new AbortController();
  const inFlight = extra.partSize || MIB;
  const onProgress = (p) => {
    if (extra.onProgress) extra.onProgress(p);
    if (p.stage === "upload" && p.loaded >= bytes + inFlight) controller.abort();
  };
  await expectRejection(
    api.upload(file, options(env, { concurrency: 1, ...extra, onProgress, signal: controller.signal })),
    (e) => assertEq(e.name, "AbortError", `abort rejects with an AbortError (got ${e.name}: ${e.message})`),
  );
}

/** The "hash" reports among a recorder's. */
function hashReports(recorder) {
  return recorder.events.filter((e) => e.stage === "hash");
}

/** A getSignature that records each `fs` it is asked to sign. */
function recordingSigner(env) {
  const sign = signer(env.server);
  const shas = [];
  return { shas, getSignature: (info) => { shas.push(info.fs); return sign(info); } };
}

export const cases = {
  async hashMatchesWebCrypto(api) {
    const sizes = [0, 1, 63, 64, 65, MIB - 1, MIB, MIB + 1, 3 * MIB + 12345, 8 * MIB, 8 * MIB + 1, 17 * MIB + 3];
    for (const [i, size] of sizes.entries()) {
      const blob = new Blob([bytes(size, 1000 + i)]);
      assertEq(await api.hashFile(blob), await webCryptoSha1(blob), `SHA-1 of ${size} bytes`);
    }
  },

  async hashMatchesWebCryptoAtManySizes(api) {
    // Every length to 200 bytes, both sides of the padding and block
    // boundaries, and random lengths, each from its own bytes.
    const sizes = [];
    for (let n = 0; n <= 200; n++) sizes.push(n);
    for (let blocks = 4; blocks <= 40; blocks++) sizes.push(64 * blocks - 1, 64 * blocks, 64 * blocks + 1);
    let x = 0x9e3779b9;
    const random = (below) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % below; };
    for (let i = 0; i < 40; i++) sizes.push(random(70000));
    for (let i = 0; i < 6; i++) sizes.push(random(3 * MIB));
    for (const [i, size] of sizes.entries()) {
      const blob = new Blob([bytes(size, 5000 + i)]);
      assertEq(await api.hashFile(blob), await webCryptoSha1(blob), `SHA-1 of ${size} bytes`);
    }
  },

  async hashAndUploadWithoutTheReadWorker(api, env) {
    // Where no Worker can be made (a CSP without blob: workers), the page
    // reads the file itself: same digests, same upload.
    globalThis.__vodUgcUploadNoWorker = true;
    try {
      for (const [i, size] of [4 * MIB + 1, 8 * MIB, 8 * MIB + 3, 19 * MIB + 5].entries()) {
        const blob = new Blob([bytes(size, 7000 + i)]);
        assertEq(await api.hashFile(blob), await webCryptoSha1(blob), `SHA-1 of ${size} bytes read on the page`);
      }
      const { result } = await uploadAndVerify(api, env, makeFile(9 * MIB + 77, 7100));
      assertEq(result.partsUploaded, 10, "10 parts");
    } finally {
      delete globalThis.__vodUgcUploadNoWorker;
    }
  },

  async streamReadThatFailsGoesOnWithSlices(api, env) {
    // A stream read fails mid-file (as WebKit's do from 4 GiB on, and
    // others' for a file that changed): the reading goes on with slices
    // from there, and the digests and the uploaded bytes are exact.
    globalThis.__vodUgcUploadRead = { mode: "stream", streamFailsAt: 9 * MIB + 5 };
    try {
      const blob = new Blob([bytes(21 * MIB + 3, 7300)]);
      assertEq(await api.hashFile(blob), await webCryptoSha1(blob), "SHA-1 through the slice fallback");
      const { result } = await uploadAndVerify(api, env, makeFile(13 * MIB + 7, 7301));
      assertEq(result.partsUploaded, 14, "14 parts");
      assertEq(result.bytesUploaded, 13 * MIB + 7, "every byte sent");
    } finally {
      delete globalThis.__vodUgcUploadRead;
    }
  },

  async hashInTheWorkerMatchesThePage(api, env) {
    // The reading Worker hashes with the page's module: the same SHA-1 and
    // parts' MD5s (the server checks each part's dataMd5) as the page's
    // own pass, at odd sizes, on part boundaries, over several buffers,
    // however the Worker reads (its defaults, slices, a stream read into
    // buffers of an odd size that cut the parts anywhere).
    const ways = [{}, { mode: "slices", poison: true }, { mode: "stream", size: 3 * MIB + 5, ahead: 4, poison: true }];
    // How the Worker must have read: slices where Blob streams have no BYOB
    // reader (WebKit); by default also in Firefox, whose slices are faster
    // than its stream (read-worker.js, SLICES).
    let byob = true;
    try {
      new Blob([]).stream().getReader({ mode: "byob" }).releaseLock();
    } catch {
      byob = false;
    }
    const firefox = /\bFirefox\//.test(navigator.userAgent);
    const readBy = (way) => (!byob || way.mode === "slices" || (!way.mode && firefox) ? "slices" : "stream");
    for (const [w, way] of ways.entries()) {
      for (const [i, size] of [4 * MIB + 1, 8 * MIB, 12 * MIB + 12345, 17 * MIB + 3].entries()) {
        const blob = new Blob([bytes(size, 7500 + 10 * w + i)]);
        const hooks = (globalThis.__vodUgcUploadRead = { ...way });
        try {
          assertEq(await api.hashFile(blob), await webCryptoSha1(blob), `SHA-1 of ${size} bytes hashed in the Worker (${JSON.stringify(way)})`);
          assertEq(hooks.hashedBy, "worker", "hashed in the Worker");
          assertEq(hooks.read, readBy(way), `the Worker's way of reading (${JSON.stringify(way)})`);
        } finally {
          delete globalThis.__vodUgcUploadRead;
        }
      }
      for (const [size, partSize] of [[8 * MIB, MIB], [9 * MIB + 77, 524288], [13 * MIB + 3, MIB]]) {
        const hooks = (globalThis.__vodUgcUploadRead = { ...way });
        try {
          const { result } = await uploadAndVerify(api, env, makeFile(size, 7600 + w + size), { partSize, cache: false });
          assertEq(result.bytesUploaded, size, `every byte sent, parts of ${partSize}`);
          assertEq(hooks.hashedBy, "worker", "hashed in the Worker");
        } finally {
          delete globalThis.__vodUgcUploadRead;
        }
      }
    }
  },

  async workerThatFailsMidwayHashesOnThePage(api, env) {
    // The Worker's hashing fails after 9 MiB (as a wasm trap would): the
    // page hashes the file again from its first byte; progress goes on
    // from where it was, never back, and the digests are exact.
    const hooks = (globalThis.__vodUgcUploadRead = { hashFailsAt: 9 * MIB });
    try {
      const blob = new Blob([bytes(21 * MIB + 3, 7700)]);
      const seen = [];
      assertEq(await api.hashFile(blob, { onProgress: (p) => seen.push(p.loaded) }), await webCryptoSha1(blob), "SHA-1 after the Worker failed");
      assertEq(hooks.hashedBy, "page", "hashed on the page in the end");
      assert(seen.some((loaded) => loaded > 0 && loaded <= 9 * MIB), `the Worker's progress came first: ${seen}`);
      for (let i = 1; i < seen.length; i++) assert(seen[i] > seen[i - 1], `progress only goes forward: ${seen}`);
      assertEq(seen[seen.length - 1], blob.size, "last report at total");
      const { result, recorder } = await uploadAndVerify(api, env, makeFile(13 * MIB + 7, 7701), { cache: false });
      assertEq(result.partsUploaded, 14, "14 parts");
      recorder.check(["hash", "upload", "finish"], { hash: 13 * MIB + 7, upload: 13 * MIB + 7, finish: 13 * MIB + 7 });
    } finally {
      delete globalThis.__vodUgcUploadRead;
    }
  },

  async fileThatCannotBeReadIsReported(api, env) {
    // Stream and slices both fail (a file changed, moved or deleted since
    // it was picked): a UgcError that says so, code -20006.
    for (const faults of [{ mode: "stream", streamFailsAt: 5 * MIB, slicesFailAt: 5 * MIB }, { mode: "slices", slicesFailAt: 0 }]) {
      globalThis.__vodUgcUploadRead = faults;
      try {
        const file = makeFile(12 * MIB + 1, 7400);
        for (const call of [() => api.hashFile(file), () => api.upload(file, options(env))]) {
          const error = await expectRejection(call(), (e) => expectUgcError(e, -20006, "hash", false));
          assert(/could not be read/.test(error.message) && /changed, moved or deleted/.test(error.message), `message says why: ${error.message}`);
          assert(/Pick it again/.test(error.message), `message says what to do: ${error.message}`);
        }
      } finally {
        delete globalThis.__vodUgcUploadRead;
      }
    }
  },

  async hashReportsProgressEvery4MiB(api) {
    const blob = new Blob([bytes(21 * MIB + 5, 77)]);
    const seen = [];
    await api.hashFile(blob, { onProgress: (p) => seen.push(p) });
    assertEq(seen[0].loaded, 0, "first report at 0");
    for (let i = 1; i < seen.length; i++) {
      assert(seen[i].loaded - seen[i - 1].loaded <= 4 * MIB, "at most 4 MiB between reports");
    }
    assertEq(seen[seen.length - 1].loaded, blob.size, "last report at total");
    assert(seen.every((p) => p.stage === "hash" && p.total === blob.size), "hash stage reports");
  },

  async uploadOneByte(api, env) {
    const { result, recorder } = await uploadAndVerify(api, env, makeFile(1, 1));
    assertEq(result.partsUploaded, 1, "one part");
    assertEq(result.bytesUploaded, 1, "one byte");
    assert(!result.instant && !result.resumed, "a fresh upload");
    recorder.check(["hash", "upload", "finish"], { hash: 1, upload: 1, finish: 1 });
  },

  // The endpoint is resolved as fetch resolves it, against the page: here a
  // scheme-relative URL, as the page is on another origin than the server
  // (tests/consumers upload to "/v2/index.php" from pages the server serves).
  async relativeEndpointIsResolvedAgainstThePage(api, env) {
    const relative = `${env.server.replace(/^https?:/, "")}/v2/index.php`;
    assert(relative.startsWith("//"), `scheme-relative: ${relative}`);
    const { result } = await uploadAndVerify(api, env, makeFile(3000, 31), { endpoint: relative });
    assertEq(result.partsUploaded, 1, "one part");
  },

  async uploadExactlyOneMiB(api, env) {
    const { result } = await uploadAndVerify(api, env, makeFile(MIB, 2));
    assertEq(result.partsUploaded, 1, "one part of 1 MiB");
  },

  async uploadTwoAndAHalfMiBInHalfMiBParts(api, env) {
    const size = 2.5 * MIB;
    const { result, recorder } = await uploadAndVerify(api, env, makeFile(size, 3), { partSize: 524288 });
    assertEq(result.partsUploaded, 5, "five parts of 512 KiB");
    assertEq(result.bytesUploaded, size, "bytes uploaded");
    const uploads = recorder.events.filter((e) => e.stage === "upload");
    assert(uploads.length >= 1 + 5, "a report per part");
  },

  async uploadTwentyMiBConcurrency1(api, env) {
    const { result } = await uploadAndVerify(api, env, makeFile(20 * MIB, 4), { concurrency: 1 });
    assertEq(result.partsUploaded, 20, "20 parts");
  },

  async uploadTwentyMiBConcurrency8(api, env) {
    const size = 20 * MIB + 4321;
    const { result, recorder } = await uploadAndVerify(api, env, makeFile(size, 5), { concurrency: 8, partSize: 524288 });
    assertEq(result.partsUploaded, 41, "41 parts");
    recorder.check(["hash", "upload", "finish"], { hash: size, upload: size, finish: size });
  },

  async sameContentAgainIsInstant(api, env) {
    const first = await uploadAndVerify(api, env, makeFile(MIB + 17, 6, "first.mp4"));
    const recorder = progressRecorder();
    const again = await api.upload(makeFile(MIB + 17, 6, "again.mp4"), options(env, { onProgress: recorder.onProgress }));
    assert(again.instant, "instant: true");
    assertEq(again.fileId, first.result.fileId, "same fileId");
    assertEq(again.url, first.result.url, "same url");
    assertEq(again.partsUploaded, 0, "nothing sent");
    assertEq(again.bytesUploaded, 0, "no bytes sent");
    recorder.check(["hash"], { hash: MIB + 17 });
  },

  async abortThenResume(api, env) {
    const file = makeFile(12 * MIB + 99, 7);
    const controller = new AbortController();
    // `loaded` counts bytes sent inside parts too: with 2 parts in flight,
    // at 6 MiB at least 4 parts are done.
    let loadedAtAbort = 0;
    const onProgress = (p) => {
      if (p.stage !== "upload" || loadedAtAbort) return;
      if (p.loaded >= 6 * MIB) {
        loadedAtAbort = p.loaded;
        controller.abort();
      }
    };
    const error = await expectRejection(
      api.upload(file, options(env, { concurrency: 2, onProgress, signal: controller.signal })),
      (e) => assertEq(e.name, "AbortError", `abort rejects with an AbortError (got ${e.name}: ${e.message})`),
    );
    assert(error.code === undefined || error.name === "AbortError", "not a UgcError");
    const partsDone = Math.floor(loadedAtAbort / MIB) - 2;
    assert(partsDone >= 4, `aborted after 4 parts (loaded ${loadedAtAbort})`);

    const { result } = await uploadAndVerify(api, env, file);
    assert(result.resumed, "resumed: true");
    assert(!result.instant, "not instant");
    assert(result.partsSkipped >= partsDone, `every part done was skipped (skipped ${result.partsSkipped})`);
    assertEq(result.partsSkipped + result.partsUploaded, 13, "every part accounted for");
    assertEq(result.bytesUploaded, file.size - result.partsSkipped * MIB, "only missing bytes sent");
  },

  async resumeWithThePartSizeTheServerFixed(api, env) {
    // The first try uses 512 KiB parts; the second asks for 1 MiB, but the
    // server holds 512 KiB parts and fixes that size: the MD5s computed
    // while hashing (for 1 MiB parts) do not apply, parts are hashed as sent.
    const file = makeFile(6 * MIB + 1234, 7200);
    const controller = new AbortController();
    // One part in flight: at 2 MiB sent, at least 3 parts of 512 KiB are done.
    await expectRejection(
      api.upload(file, options(env, {
        partSize: 524288,
        concurrency: 1,
        signal: controller.signal,
        onProgress: (p) => { if (p.stage === "upload" && p.loaded >= 2 * MIB) controller.abort(); },
      })),
      (e) => assertEq(e.name, "AbortError", `abort rejects with an AbortError (got ${e.name}: ${e.message})`),
    );
    const { result } = await uploadAndVerify(api, env, file, { partSize: 1048576 });
    assert(result.resumed, "resumed: true");
    assert(result.partsSkipped >= 3, `the parts stored before the abort were skipped (skipped ${result.partsSkipped})`);
    assertEq(result.partsSkipped + result.partsUploaded, 13, "13 parts of 512 KiB, every one accounted for");
  },

  // The hash cache: after an abort, the same File uploads again without a
  // pass over it (one "hash" report, complete), resumed and byte-exact; the
  // entry goes with the finished upload.
  async cacheSkipsHashingOnResume(api, env) {
    const file = makeFile(10 * MIB + 5, 7300, "cached.mp4");
    const first = progressRecorder();
    await abortAfter(api, env, file, 3 * MIB, { onProgress: first.onProgress });
    assert(hashReports(first).length > 2, "the first upload hashed the file");

    const signing = recordingSigner(env);
    const { result, recorder } = await uploadAndVerify(api, env, file, { getSignature: signing.getSignature });
    assert(result.resumed, "resumed: true");
    assertEq(result.rehashed, false, "rehashed");
    assert(result.partsSkipped >= 3, `the stored parts were skipped (skipped ${result.partsSkipped})`);
    assertEq(result.bytesUploaded, file.size - result.partsSkipped * MIB, "only missing bytes sent");
    const hash = hashReports(recorder);
    assertEq(hash.length, 1, "one hash report: the remembered hash, no pass over the file");
    assertEq(hash[0].loaded, file.size, "the hash report is complete");
    recorder.check(["hash", "upload", "finish"], { hash: file.size, upload: file.size, finish: file.size });
    assertEq(signing.shas.join(), result.fileSha, "getSignature called once, for the remembered fs");

    const again = progressRecorder();
    const instant = await api.upload(file, options(env, { onProgress: again.onProgress }));
    assert(instant.instant, "the finished file again is instant");
    assert(hashReports(again).length > 2, "the entry went with the finished upload: hashed again");
  },

  // A file changed in place (same name, size, date and type; other bytes)
  // while its hashes are remembered: the change is found whether it is in a
  // part the server holds (read back and compared while the others are
  // sent) or in one not yet sent (the server refuses its MD5); the file is
  // hashed and uploaded again, once, and its new bytes are what is served.
  async changedInPlaceIsRehashed(api, env) {
    const size = 10 * MIB + 5;
    for (const [seed, offset, where] of [[7310, 100, "in a held part"], [7320, 9 * MIB + 7, "in a part not yet sent"]]) {
      const name = `changed-${seed}.mp4`;
      const lastModified = Date.now() - seed;
      const before = bytes(size, seed);
      await abortAfter(api, env, new File([before], name, { type: "video/mp4", lastModified }), 3 * MIB);
      const after = before.slice();
      after[offset] ^= 0xff;
      const changed = new File([after], name, { type: "video/mp4", lastModified });
      const signing = recordingSigner(env);
      const { result, recorder } = await uploadAndVerify(api, env, changed, { getSignature: signing.getSignature });
      assertEq(result.rehashed, true, `rehashed, changed ${where}`);
      assertEq(signing.shas.length, 2, `signed twice, changed ${where}`);
      assert(signing.shas[0] !== result.fileSha && signing.shas[1] === result.fileSha, "then for the new fs");
      assert(hashReports(recorder).length > 2, "the file was hashed again");
      assert(!result.resumed, "uploaded from scratch");
    }
  },

  // The server fixed 512 KiB parts, the remembered MD5s are for 1 MiB ones:
  // held parts are hashed as read, the changed one is sent again, and
  // FinishUploadUGC refuses the assembled file's SHA-1: re-hashed too.
  async changedInPlaceFoundAtFinish(api, env) {
    const size = 6 * MIB + 3;
    const name = "changed-at-finish.mp4";
    const lastModified = Date.now() - 7330;
    const before = bytes(size, 7330);
    const original = new File([before], name, { type: "video/mp4", lastModified });
    await abortAfter(api, env, original, 2 * MIB, { partSize: 524288, cache: false });
    await abortAfter(api, env, original, 3 * MIB, { partSize: 1048576 });
    const after = before.slice();
    after[5] ^= 0xff;
    const changed = new File([after], name, { type: "video/mp4", lastModified });
    const signing = recordingSigner(env);
    const { result } = await uploadAndVerify(api, env, changed, { getSignature: signing.getSignature });
    assertEq(result.rehashed, true, "rehashed");
    assertEq(signing.shas.length, 2, "signed twice");
  },

  // An entry outlived its finished upload (here: finished with cache:
  // false, which leaves entries alone), then the file changed in place:
  // the server answers the remembered SHA-1 with an instant upload, which
  // is no proof of the bytes. The file is hashed, and uploaded anew.
  async instantFromAStaleEntryIsNotTrusted(api, env) {
    const size = 3 * MIB + 11;
    const name = "stale-instant.mp4";
    const lastModified = Date.now() - 7340;
    const before = bytes(size, 7340);
    const original = new File([before], name, { type: "video/mp4", lastModified });
    await abortAfter(api, env, original, MIB);
    await uploadAndVerify(api, env, original, { cache: false });
    const after = before.slice();
    after[size - 1] ^= 0xff;
    const changed = new File([after], name, { type: "video/mp4", lastModified });
    const { result } = await uploadAndVerify(api, env, changed);
    assert(!result.instant, "not the old file's instant upload");
    assertEq(result.rehashed, true, "rehashed");
    // The same story with the file unchanged: instant, once the hash
    // confirms the remembered SHA-1.
    const unchanged = makeFile(size, 7350, "unchanged.mp4");
    await abortAfter(api, env, unchanged, MIB);
    const published = await uploadAndVerify(api, env, unchanged, { cache: false });
    const recorder = progressRecorder();
    const confirmed = await api.upload(unchanged, options(env, { onProgress: recorder.onProgress }));
    assert(confirmed.instant, "instant");
    assertEq(confirmed.rehashed, false, "not rehashed");
    assertEq(confirmed.fileId, published.result.fileId, "the published file");
    assert(hashReports(recorder).length > 2, "confirmed by hashing the file");
  },

  // cache: false neither uses nor keeps an entry, and a Blob that is not a
  // File (nothing identifies it but its size) is never remembered.
  async cacheFalseAndBlobsHashAgain(api, env) {
    const file = makeFile(6 * MIB + 3, 7400, "nocache.mp4");
    await abortAfter(api, env, file, 2 * MIB);
    const off = await uploadAndVerify(api, env, file, { cache: false, partSize: 524288 });
    assert(off.result.resumed, "resumed with cache: false");
    assert(hashReports(off.recorder).length > 2, "cache: false hashes again");

    const unkept = makeFile(6 * MIB + 3, 7410, "unkept.mp4");
    await abortAfter(api, env, unkept, 2 * MIB, { cache: false });
    const kept = await uploadAndVerify(api, env, unkept);
    assert(kept.result.resumed, "resumed");
    assert(hashReports(kept.recorder).length > 2, "cache: false kept no entry");

    const blob = new Blob([bytes(6 * MIB + 3, 7420)]);
    await abortAfter(api, env, blob, 2 * MIB);
    const fromBlob = await uploadAndVerify(api, env, blob);
    assert(fromBlob.result.resumed, "a Blob resumes");
    assert(hashReports(fromBlob.recorder).length > 2, "a Blob is hashed again");
  },

  async abortWhileHashing(api) {
    const controller = new AbortController();
    const blob = new Blob([bytes(24 * MIB, 8)]);
    const pending = api.hashFile(blob, {
      signal: controller.signal,
      onProgress: (p) => p.loaded > 0 && controller.abort(new Error("user left")),
    });
    await expectRejection(pending, (e) => {
      assertEq(e.name, "AbortError", "AbortError");
      assertEq(e.cause && e.cause.message, "user left", "the reason is kept as cause");
    });
  },

  async abortWhileHashingInTheWorkerStopsIt(api, env) {
    // hashFile and upload, aborted while the Worker hashes: each rejects
    // at once with an AbortError, and the Worker is free for the next
    // call, which gets the right digests.
    for (const call of [(b, o) => api.hashFile(b, o), (b, o) => api.upload(b, options(env, o))]) {
      const controller = new AbortController();
      const hooks = (globalThis.__vodUgcUploadRead = {});
      try {
        const blob = makeFile(40 * MIB + 1, 7800);
        let at;
        const pending = call(blob, {
          signal: controller.signal,
          onProgress: (p) => p.stage === "hash" && p.loaded > 0 && !at && ((at = p.loaded), controller.abort()),
        });
        await expectRejection(pending, (e) => assertEq(e.name, "AbortError", "AbortError"));
        assertEq(hooks.hashedBy, "worker", "the Worker was hashing");
        assert(at < blob.size, `aborted mid-file (at ${at})`);
        const next = new Blob([bytes(9 * MIB + 1, 7801)]);
        assertEq(await api.hashFile(next), await webCryptoSha1(next), "the next call's SHA-1");
        assertEq(hooks.hashedBy, "worker", "the next call hashed in the Worker");
      } finally {
        delete globalThis.__vodUgcUploadRead;
      }
    }
  },

  async alreadyAbortedSignal(api, env) {
    await expectRejection(
      api.upload(makeFile(10, 9), options(env, { signal: AbortSignal.abort() })),
      (e) => assertEq(e.name, "AbortError", "AbortError"),
    );
  },

  // Engines differ in what an in-flight fetch rejects with when its signal
  // aborts (WebKit: always a plain AbortError, whatever the reason). The
  // module decides from its own state: the caller's signal fired, so the
  // upload rejects with an AbortError whose cause is the caller's reason.
  async abortDuringARequestWithACustomReason(api, env) {
    const controller = new AbortController();
    const reason = new Error("the user closed the dialog");
    setTimeout(() => controller.abort(reason), 300);
    await expectRejection(
      api.upload(makeFile(100, 19), options(env, { signal: controller.signal }, env.blackhole)),
      (e) => {
        assertEq(e.name, "AbortError", `AbortError (got ${e.name}: ${e.message})`);
        assertEq(e.cause, reason, "the caller's reason is the cause");
      },
    );
  },

  async callersTimeoutSignalIsAnAbortNotATimeout(api, env) {
    await expectRejection(
      api.upload(makeFile(100, 20), options(env, { signal: AbortSignal.timeout(300) }, env.blackhole)),
      (e) => {
        assertEq(e.name, "AbortError", `AbortError, not a UgcError timeout (got ${e.name}: ${e.message})`);
        assertEq(e.cause && e.cause.name, "TimeoutError", "the signal's TimeoutError is the cause");
      },
    );
  },

  async faultyServerCompletes(api, env) {
    const { result } = await uploadAndVerify(
      api,
      env,
      makeFile(8 * MIB + 5, 10),
      // Signed by the main server's dev signer (both servers share the key):
      // the faulty server drops connections, and the test's own signature
      // fetch has no retries.
      { endpoint: `${env.faultServer}/v2/index.php`, partSize: 524288, retries: 10, retryDelayMs: 10 },
    );
    assertEq(result.partsUploaded, 17, "all parts stored despite faults");
  },

  async badInput(api, env) {
    const good = makeFile(10, 11);
    const inputs = [
      [() => api.upload("not a file", options(env)), "a string"],
      [() => api.upload(undefined, options(env)), "undefined"],
      [() => api.upload(new Blob([]), options(env)), "empty"],
      [() => api.upload(good, {}), "getSignature"],
      [() => api.upload(good), "getSignature"],
      [() => api.upload(good, { ...options(env), getSignature: "abc" }), "getSignature"],
      [() => api.upload(good, { ...options(env), partsize: 524288 }), "partsize"],
      [() => api.upload(good, { ...options(env), partSize: 1000 }), "partSize"],
      [() => api.upload(good, { ...options(env), concurrency: 0 }), "concurrency"],
      [() => api.upload(good, { ...options(env), retries: -1 }), "retries"],
      [() => api.upload(good, { ...options(env), timeoutMs: "fast" }), "timeoutMs"],
      [() => api.upload(good, { ...options(env), endpoint: "ftp://x" }), "endpoint"],
      [() => api.upload(good, { ...options(env), endpoint: "http://[" }), "endpoint"],
      [() => api.upload(good, { ...options(env), endpoint: "data:text/plain,x" }), "endpoint"],
      [() => api.upload(good, { ...options(env), signal: {} }), "signal"],
      [() => api.upload(good, { ...options(env), cache: "no" }), "cache"],
      [() => api.hashFile(good, { cache: false }), "cache"],
      [() => api.hashFile(42), "a number"],
    ];
    for (const [call, mentions] of inputs) {
      const error = await expectRejection(call(), (e) => expectUgcError(e, -20001, "input", false));
      assert(error.message.includes(mentions), `message ${JSON.stringify(error.message)} mentions ${mentions}`);
    }
  },

  async getSignatureFailures(api, env) {
    const file = makeFile(100, 12);
    const thrower = () => { throw new Error("backend down"); };
    const rejecter = async () => { throw new Error("HTTP 502"); };
    for (const [getSignature, mentions] of [
      [thrower, "backend down"],
      [rejecter, "HTTP 502"],
      [() => 42, "42"],
      [async () => undefined, "undefined"],
      [() => "", "empty"],
    ]) {
      const error = await expectRejection(
        api.upload(file, { ...options(env), getSignature }),
        (e) => expectUgcError(e, -20002, "sign"),
      );
      assert(error.message.includes(mentions), `message ${JSON.stringify(error.message)} mentions ${mentions}`);
    }
  },

  async getSignatureGetsTheInfo(api, env) {
    const file = makeFile(1234, 13, "My Holiday.Final.MOV");
    let seen;
    const sign = signer(env.server);
    await api.upload(file, { ...options(env), getSignature: (info) => { seen = info; return sign(info); } });
    assertEq(seen.f, "My Holiday.Final", "f");
    assertEq(seen.ft, "mov", "ft");
    assertEq(seen.fs, await webCryptoSha1(file), "fs");
    assertEq(seen.fileName, "My Holiday.Final.MOV", "fileName");
    assertEq(seen.fileSize, 1234, "fileSize");
    let blobInfo;
    await api.upload(new Blob([bytes(50, 14)]), {
      ...options(env),
      getSignature: (info) => { blobInfo = info; return sign(info); },
    });
    assertEq(blobInfo.fileName, "blob", "a Blob is named blob");
  },

  async serverRefusesTheSignature(api, env) {
    // A valid signature, but for another file: the server must refuse it.
    const getSignature = signer(env.server, { fs: "0".repeat(40) });
    await expectRejection(
      api.upload(makeFile(100, 15), { ...options(env), getSignature }),
      (e) => expectUgcError(e, -10002, "init", false),
    );
  },

  // The dev signer's `ttl` signs for a second; the first upload-stage report
  // (after InitUploadUGC accepted the signature, before any part is sent)
  // holds the page until the server's clock is past it, so the first part
  // is refused with -10002.
  async anExpiredSignatureIsRenewedOnce(api, env) {
    const file = makeFile(3 * MIB + 5, 7300);
    const { getSignature, calls } = expiringSigner(env, [1]);
    const { result } = await uploadAndVerify(api, env, file, { getSignature, onProgress: holdUntilExpired(calls) });
    assertEq(calls.length, 2, "getSignature called twice");
    assertEq(JSON.stringify(calls[1].info), JSON.stringify(calls[0].info), "with the same info");
    assertEq(calls[0].info.fs, result.fileSha, "for this file");
    assertEq(result.partsUploaded, 4, "every part sent, the refused one again");
  },

  async aSecondExpiredSignatureFailsForGood(api, env) {
    // The second signature has expired too by the time it is used.
    const { getSignature, calls } = expiringSigner(env, [1, 1]);
    const started = performance.now();
    await expectRejection(
      api.upload(makeFile(2 * MIB, 7301), options(env, { getSignature, onProgress: holdUntilExpired(calls) })),
      (e) => expectUgcError(e, -10002, "part", false),
    );
    assertEq(calls.length, 2, "no third call");
    assert(performance.now() - started < 20000, "no hang");
  },

  async htmlPageAsAnswer(api, env) {
    await expectRejection(
      // A static page served where the endpoint should be.
      api.upload(makeFile(100, 16), options(env, {}, `${env.server}/index.html`)),
      (e) => {
        expectUgcError(e, -20005, "init", false);
        assert(e.message.includes("text/html") || e.message.includes("HTTP"), e.message);
      },
    );
  },

  async unreachableEndpoint(api, env) {
    await expectRejection(
      api.upload(makeFile(100, 17), options(env, { retries: 1, retryDelayMs: 0 }, env.unreachable)),
      (e) => expectUgcError(e, -20003, "init", true),
    );
  },

  async endpointThatNeverAnswers(api, env) {
    const started = performance.now();
    await expectRejection(
      api.upload(makeFile(100, 18), options(env, { retries: 1, retryDelayMs: 0, timeoutMs: 400 }, env.blackhole)),
      (e) => expectUgcError(e, -20004, "init", true),
    );
    const elapsed = performance.now() - started;
    assert(elapsed >= 800 && elapsed < 20000, `two tries of 400 ms, took ${elapsed} ms`);
  },
};

/** Runs one case; `api` holds the module's upload and hashFile. */
export async function runCase(name, api, env) {
  const run = cases[name];
  if (!run) throw new Error(`no test case named ${name}`);
  await run(api, env);
}
