// Types of vod-ugc-upload: the API (upload, hashFile and their options,
// results and errors) comes from src/web/api.d.ts through the module's
// declarations; the loader and the error codes are declared here.

import type { InitInput, InitOutput } from "./vod_ugc_upload_bg.js";

export * from "./vod_ugc_upload_bg.js";

/**
 * Loads the WebAssembly module. Optional: upload() and hashFile() load it on
 * first use, from beside this module. Call it to load early, or from your own
 * URL, bytes, Response or WebAssembly.Module (a CDN, a strict CSP, offline).
 * Every call shares one load; it rejects with a UgcError (code LOAD_FAILED)
 * where the engine lacks WebAssembly SIMD or the module cannot be loaded.
 */
export default function init(
  source?: InitInput | Promise<InitInput> | { module_or_path: InitInput | Promise<InitInput> },
): Promise<InitOutput>;

/** Every error code by name: `err.code === codes.SIGNATURE_INVALID`. */
export declare const codes: {
  readonly COMMON_PARAMS_INVALID: -10001;
  readonly SIGNATURE_INVALID: -10002;
  readonly PROTOCOL_PARAMS_INVALID: -10003;
  readonly STATE_WRITE_FAILED: -10004;
  readonly STATE_READ_FAILED: -10005;
  readonly PART_BODY_INVALID: -10006;
  readonly BAD_INPUT: -20001;
  readonly SIGNATURE_FAILED: -20002;
  readonly NETWORK_FAILED: -20003;
  readonly TIMED_OUT: -20004;
  readonly BAD_ANSWER: -20005;
  readonly FILE_UNREADABLE: -20006;
  readonly LOAD_FAILED: -20007;
};
