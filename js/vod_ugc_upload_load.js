// The package's loader: one shared load of the WebAssembly module, started by
// init() or by the first upload()/hashFile(), after checking that the engine
// can run it. The entry modules (vod_ugc_upload.js for browsers and bundlers,
// vod_ugc_upload_node.js for Node.js) differ only in where the .wasm comes from.

import initModule, {
  initSync as initModuleSync,
  upload as moduleUpload,
  hashFile as moduleHashFile,
} from "./vod_ugc_upload_bg.js";
import { codes } from "./vod_ugc_upload_codes.js";

// A function returning i8x16.popcnt(i8x16.splat(0)): valid only where the
// engine has WebAssembly SIMD, which the module is built with (the same probe
// as wasm-feature-detect's).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** A rejection shaped like the module's own: an Error named UgcError. */
function loadError(message, canRetry, cause) {
  const error = new Error(message, cause === undefined ? undefined : { cause });
  error.name = "UgcError";
  error.code = codes.LOAD_FAILED;
  error.canRetry = canRetry;
  error.stage = "load";
  return error;
}

/** Throws a UgcError where the module cannot run. */
function checkEngine() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") {
    throw loadError("vod-ugc-upload needs WebAssembly, which this browser does not offer.", false);
  }
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw loadError(
      "This browser is too old for vod-ugc-upload: it needs WebAssembly SIMD " +
        "(Chrome or Edge 91, Firefox 89, Safari 16.4, or newer). Update the browser.",
      false,
    );
  }
}

/** True when `bytes` start like a WebAssembly module ("\0asm"). */
export function isWasm(bytes) {
  return bytes.length > 8 && bytes[0] === 0 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}

/**
 * Bytes or a WebAssembly.Module from what init() accepts: a URL (a string,
 * URL or Request), a Response, bytes or a WebAssembly.Module.
 */
async function wasmFrom(input) {
  if (typeof input === "string" || input instanceof URL || (typeof Request === "function" && input instanceof Request)) {
    input = await fetch(input);
  }
  if (typeof Response === "function" && input instanceof Response) {
    if (!input.ok) throw new Error(`HTTP ${input.status} ${input.statusText}${input.url ? ` fetching ${input.url}` : ""}`);
    return new Uint8Array(await input.arrayBuffer());
  }
  return input;
}

// The one load: a promise of the module's exports, or null before the first
// call and after a failed load (so that a later call tries again).
let loading = null;

/**
 * The public functions of an entry module. `defaultSource()` gives what the
 * module is loaded from when init() is not given anything: a URL, a
 * Response, bytes or a WebAssembly.Module (as init accepts).
 */
export function createApi(defaultSource) {
  function init(source) {
    if (!loading) {
      loading = (async () => {
        checkEngine();
        // wasm-bindgen's own form, init({ module_or_path }), is accepted too.
        let input = source;
        if (input && typeof input === "object" && "module_or_path" in input) input = input.module_or_path;
        return initModule(await wasmFrom(await (input ?? defaultSource())));
      })().catch((error) => {
        loading = null;
        if (error && error.name === "UgcError") throw error;
        const reason = error && error.message ? `${error.name}: ${error.message}` : String(error);
        throw loadError(
          `vod-ugc-upload could not load its WebAssembly module (${reason}). Check that the .wasm file ` +
            "is served, and that a Content Security Policy allows 'wasm-unsafe-eval'.",
          true,
          error,
        );
      });
    }
    return loading;
  }

  /** Loads the module synchronously from bytes or a WebAssembly.Module. */
  function initSync(source) {
    checkEngine();
    const exports = initModuleSync(source && "module" in source ? source.module : source);
    loading ??= Promise.resolve(exports);
    return exports;
  }

  return {
    init,
    initSync,
    async upload(file, options) {
      await init();
      return moduleUpload(file, options);
    },
    async hashFile(file, options) {
      await init();
      return moduleHashFile(file, options);
    },
  };
}
