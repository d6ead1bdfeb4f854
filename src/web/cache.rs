//! The hash cache in the browser (rules in [`crate::cache`]): entries kept
//! in IndexedDB by `cache.js` (a few lines of JavaScript, far smaller in the
//! module than web-sys' IndexedDB bindings). The parts a server holds are
//! checked against the file's bytes by [`crate::transfer`].

use js_sys::{Date, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

use super::js::{self, ObjectBuilder};
use crate::cache::{key, Entry, MAX_AGE_MS};
use crate::hash::PartMd5s;

#[wasm_bindgen(module = "/src/web/cache.js")]
extern "C" {
    #[wasm_bindgen(js_name = cacheGet)]
    fn cache_get(key: &str) -> Promise;
    #[wasm_bindgen(js_name = cachePut)]
    fn cache_put(key: &str, entry: &JsValue, cutoff: f64) -> Promise;
    #[wasm_bindgen(js_name = cacheDelete)]
    fn cache_delete(key: &str) -> Promise;
}

/// The cache entry of one picked file.
pub struct HashCache {
    key: String,
    size: u64,
}

impl HashCache {
    /// The entry of `file` when it is a `File`. A Blob that is not a File
    /// has no name or date that could tell it from another of the same
    /// size, and does not outlive its page anyway: it is not cached.
    pub fn for_file(file: &JsValue) -> Option<HashCache> {
        let file = file.dyn_ref::<File>()?;
        let size = file.size() as u64;
        Some(HashCache {
            key: key(&file.name(), size, file.last_modified(), &file.type_()),
            size,
        })
    }

    /// The remembered SHA-1 and part MD5s, if there is a good entry.
    pub async fn load(&self) -> Option<(String, PartMd5s)> {
        let stored = JsFuture::from(cache_get(&self.key)).await.ok()?;
        let entry = Entry {
            file_sha: js::get(&stored, "sha").as_string()?,
            part_size: js::get(&stored, "partSize").as_f64()? as u64,
            part_md5s: js::get(&stored, "md5s")
                .dyn_into::<Uint8Array>()
                .ok()?
                .to_vec(),
            saved_at: js::get(&stored, "savedAt").as_f64()?,
        };
        entry.hashes(self.size, Date::now())
    }

    /// Remembers the hashes of the file, and forgets entries past their age.
    pub async fn store(&self, file_sha: &str, part_md5s: &PartMd5s) {
        let now = Date::now();
        let Some(entry) = Entry::new(file_sha, part_md5s, now) else {
            return;
        };
        let stored = ObjectBuilder::new()
            .set("sha", entry.file_sha)
            .set("partSize", entry.part_size as f64)
            .set("md5s", Uint8Array::from(&entry.part_md5s[..]))
            .set("savedAt", entry.saved_at)
            .build();
        let _ = JsFuture::from(cache_put(&self.key, &stored, now - MAX_AGE_MS)).await;
    }

    /// Forgets the entry: the upload is done, or the entry was stale.
    pub async fn forget(&self) {
        let _ = JsFuture::from(cache_delete(&self.key)).await;
    }
}
