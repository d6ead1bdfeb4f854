// vod-ugc-upload for browsers and bundlers. upload() and hashFile() load the
// WebAssembly module on first use; init() loads it earlier, or from a URL,
// bytes or a WebAssembly.Module of your choice.

import { createApi, isWasm } from "./vod_ugc_upload_load.js";

export { codes } from "./vod_ugc_upload_codes.js";

const api = createApi(async () => {
  // Bundlers that understand `new URL("...", import.meta.url)` (Vite's
  // build, webpack 5, Parcel, Rollup with its URL plugin) ship the file and
  // rewrite the URL; a plain page finds it beside this module.
  const url = new URL("./vod_ugc_upload_bg.wasm", import.meta.url);
  try {
    const response = await fetch(url);
    if (response.ok) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (isWasm(bytes)) return bytes;
    }
  } catch {
    // Not there: see below.
  }
  // Where the file is not beside this module (esbuild, which leaves the URL
  // as it is; Vite's dev server, which moves this module into its deps
  // cache), the copy of the .wasm inside a JS module, fetched only then.
  const { wasmBase64 } = await import("./vod_ugc_upload_inline.js");
  return Uint8Array.from(atob(wasmBase64), (c) => c.charCodeAt(0));
});

export default api.init;
export const { initSync, upload, hashFile } = api;
