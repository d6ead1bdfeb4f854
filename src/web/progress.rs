//! Progress reports to the page's `onProgress` callback.

use js_sys::Function;
use wasm_bindgen::JsValue;

use super::js::{self, ObjectBuilder};
use crate::progress::Progress;

/// Calls `onProgress({stage, loaded, total, bytesPerSecond, waiting})`. A callback
/// that throws is logged, not allowed to break the upload.
pub fn report(on_progress: Option<&Function>, progress: &Progress) {
    let Some(callback) = on_progress else { return };
    let event = ObjectBuilder::new()
        .set("stage", progress.stage.as_str())
        .set("loaded", progress.loaded as f64)
        .set("total", progress.total as f64)
        .set("bytesPerSecond", progress.bytes_per_second.round())
        .set(
            "waiting",
            progress
                .waiting
                .map_or(JsValue::NULL, |w| JsValue::from_str(w.as_str())),
        )
        .build();
    if let Err(error) = callback.call1(&JsValue::UNDEFINED, &event) {
        js::console_error(
            "vod-ugc-upload: onProgress threw; the upload goes on.",
            &error,
        );
    }
}
