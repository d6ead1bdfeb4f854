//! Progress reports to the page's `onProgress` callback.

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::js;
use crate::progress::Progress;

/// Calls `onProgress({stage, loaded, total, bytesPerSecond, waiting})`
/// (`driver.js` builds the event, and logs a callback that throws: it is
/// not allowed to break the upload).
pub fn report(on_progress: Option<&Function>, progress: &Progress) {
    let Some(callback) = on_progress else { return };
    js::progress(
        callback,
        progress.stage.as_str(),
        progress.loaded as f64,
        progress.total as f64,
        progress.bytes_per_second.round(),
        &progress
            .waiting
            .map_or(JsValue::NULL, |w| JsValue::from_str(w.as_str())),
    );
}
