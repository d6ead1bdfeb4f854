//! The hash cache in the browser (rules in [`crate::cache`]): entries kept
//! in IndexedDB by `cache.js` (a few lines of JavaScript, far smaller in the
//! module than web-sys' IndexedDB bindings). The parts a server holds are
//! checked against the file's bytes by [`crate::transfer`].

use js_sys::{Date, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::File;

use super::js;
use crate::cache::{key, Entry, MAX_AGE_MS};
use crate::hash::PartMd5s;

#[wasm_bindgen(module = "/src/web/cache.js")]
extern "C" {
    #[wasm_bindgen(js_name = cacheGet)]
    fn cache_get(key: &str) -> Promise;
    #[wasm_bindgen(js_name = cachePut)]
    fn cache_put(
        key: &str,
        sha: &str,
        part_size: f64,
        md5s: &[u8],
        saved_at: f64,
        cutoff: f64,
    ) -> Promise;
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

    /// Looks the entry up: a promise of what is stored, see [`HashCache::hashes`].
    pub fn load(&self) -> Promise {
        cache_get(&self.key)
    }

    /// The remembered SHA-1 and part MD5s in what [`HashCache::load`]
    /// resolved to, if it is a good entry.
    pub fn hashes(&self, stored: &JsValue) -> Option<(String, PartMd5s)> {
        let entry = Entry {
            file_sha: js::get(stored, "sha").as_string()?,
            part_size: js::get(stored, "partSize").as_f64()? as u64,
            part_md5s: js::get(stored, "md5s")
                .dyn_into::<Uint8Array>()
                .ok()?
                .to_vec(),
            saved_at: js::get(stored, "savedAt").as_f64()?,
        };
        entry.hashes(self.size, Date::now())
    }

    /// Remembers the hashes of the file, and forgets entries past their
    /// age: a promise of it done (or not: it never rejects).
    pub fn store(&self, entry: Entry) -> Promise {
        cache_put(
            &self.key,
            &entry.file_sha,
            entry.part_size as f64,
            &entry.part_md5s,
            entry.saved_at,
            entry.saved_at - MAX_AGE_MS,
        )
    }

    /// Forgets the entry: the upload is done, or the entry was stale.
    pub fn forget(&self) -> Promise {
        cache_delete(&self.key)
    }
}
