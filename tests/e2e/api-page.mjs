// The bare API page (tests/e2e/page) driven from Node: open it, pick a file
// through its <input type=file>, and call upload() on it as an app would.

/** Opens the page (or reloads it) and waits until the module is loaded. */
export async function openApiPage(page, baseUrl) {
  if (page.url().startsWith(baseUrl)) await page.reload({ timeout: 15_000 });
  else await page.goto(baseUrl + "/", { timeout: 15_000 });
  await page.waitForSelector("body[data-ready=true]", { timeout: 15_000 });
}

/**
 * Picks `filePath` and uploads it with the dev signer. `abortAt` (0..1)
 * aborts once that fraction of the upload is stored. Resolves to
 * `{ result }` or `{ error }`, with every progress report (`events`, each
 * with `at`, ms since upload() was called) and each `fs` signed.
 */
export async function uploadPicked(page, filePath, { abortAt = null, options = {} } = {}) {
  await page.setInputFiles("#file", filePath);
  return page.evaluate(async ({ abortAt, options }) => {
    const file = document.getElementById("file").files[0];
    const controller = new AbortController();
    const events = [];
    const signed = [];
    const started = performance.now();
    try {
      const result = await window.ugc.upload(file, {
        endpoint: `${location.origin}/v2/index.php`,
        getSignature: async (info) => {
          signed.push(info.fs);
          const query = new URLSearchParams({ f: info.f, ft: info.ft, fs: info.fs, uid: "e2e" });
          return (await (await fetch(`/signature?${query}`)).json()).signature;
        },
        onProgress: (p) => {
          events.push({ stage: p.stage, loaded: p.loaded, total: p.total, at: performance.now() - started });
          if (abortAt !== null && p.stage === "upload" && p.loaded >= abortAt * p.total) controller.abort();
        },
        signal: controller.signal,
        ...options,
      });
      return { result, events, signed };
    } catch (e) {
      return { error: { name: e.name, code: e.code, message: e.message }, events, signed };
    }
  }, { abortAt, options });
}

/** The "hash" reports of an upload. */
export function hashReports(run) {
  return run.events.filter((e) => e.stage === "hash");
}
