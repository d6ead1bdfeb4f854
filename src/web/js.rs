//! Small bindings to the JavaScript globals the module needs, taken from the
//! global scope so that the module works in a window and in a worker alike,
//! and to the builders in `driver.js` of the values the module hands to the
//! page: one binding each, where building them here would take a binding
//! call per field (issue 13: the module's size).

use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn now() -> f64;

    /// `String(value)`: a string form of any value.
    #[wasm_bindgen(js_name = String)]
    pub fn to_js_string(value: &JsValue) -> String;
}

#[wasm_bindgen(module = "/src/web/driver.js")]
extern "C" {
    /// An effect for the driver, `{k, t, u, a, b, p}` (`driver.js` says
    /// what each means).
    pub fn effect(
        k: u32,
        t: f64,
        u: &JsValue,
        a: Option<f64>,
        b: Option<f64>,
        p: &JsValue,
    ) -> JsValue;

    /// `upload()`'s result: `{fileId, url, fileSha, instant, resumed,
    /// rehashed, partsUploaded, partsSkipped, bytesUploaded}`.
    #[allow(clippy::too_many_arguments)]
    pub fn uploaded(
        file_id: &str,
        url: &str,
        file_sha: &str,
        instant: bool,
        resumed: bool,
        rehashed: bool,
        parts_uploaded: f64,
        parts_skipped: f64,
        bytes_uploaded: f64,
    ) -> JsValue;

    /// What `getSignature` is called with: `{f, ft, fs, fileName, fileSize}`.
    #[wasm_bindgen(js_name = signInfo)]
    pub fn sign_info(f: &str, ft: &str, fs: &str, file_name: &str, file_size: f64) -> JsValue;

    /// Calls `onProgress({stage, loaded, total, bytesPerSecond, waiting})`;
    /// a callback that throws is logged, the upload goes on.
    pub fn progress(
        on_progress: &Function,
        stage: &str,
        loaded: f64,
        total: f64,
        bytes_per_second: f64,
        waiting: &JsValue,
    );

    /// An `Error` named `UgcError` with `code`, `canRetry` and `stage`.
    #[wasm_bindgen(js_name = ugcError)]
    pub fn ugc_error(message: &str, code: f64, can_retry: bool, stage: &str) -> JsValue;

    /// A `DOMException` named `AbortError` whose `cause` is the signal's reason.
    #[wasm_bindgen(js_name = abortError)]
    pub fn abort_error(signal: Option<&AbortSignal>) -> JsValue;

    /// The base URL `fetch` resolves against: the page's `document.baseURI`
    /// or, in a Worker, its `location`; none in Node.js.
    #[wasm_bindgen(js_name = baseUrl)]
    pub fn base_url() -> Option<String>;

    /// `url` resolved against [`base_url`] as `fetch` would (the WHATWG
    /// `URL`), or none if it is not a URL there.
    #[wasm_bindgen(js_name = resolveUrl)]
    pub fn resolve_url(url: &str) -> Option<String>;

    /// A short text for a thrown JavaScript value: `Name: message`, or its
    /// string form.
    #[wasm_bindgen(js_name = describe)]
    pub fn describe_thrown(value: &JsValue) -> String;

    /// `value[name]`, or `undefined` when `value` is not an object (or a
    /// getter throws).
    #[wasm_bindgen(js_name = field)]
    pub fn get(value: &JsValue, name: &str) -> JsValue;

    /// The first own key of `options` that is not among `known` (names
    /// joined by `", "`) and whose value is not `undefined` or `null`.
    #[wasm_bindgen(js_name = unknownOption)]
    pub fn unknown_option(options: &JsValue, known: &str) -> Option<String>;

    /// A short name for the kind of a JavaScript value, for messages: `a
    /// string`, `null`, `a Date`, ...
    #[wasm_bindgen(js_name = kindOf)]
    pub fn kind_of(value: &JsValue) -> String;
}
