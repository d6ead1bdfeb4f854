// vod-ugc-upload for Node.js 20+ (the "node" condition of the exports map):
// the same API, with the .wasm read from the package folder. Upload a Blob
// from fs.openAsBlob(path) (read from disk as it goes, never whole in memory).

import { readFile } from "node:fs/promises";
import { createApi } from "./vod_ugc_upload_load.js";

export { codes } from "./vod_ugc_upload_codes.js";

const api = createApi(() => readFile(new URL("./vod_ugc_upload_bg.wasm", import.meta.url)));

export default api.init;
export const { initSync, upload, hashFile } = api;
