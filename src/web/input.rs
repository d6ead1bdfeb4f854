//! Checking what the calling page passed in: the file and the options
//! object. Every problem is bad input (-20001) with a message naming the
//! option and what it should be.

use js_sys::Function;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{AbortSignal, Blob, File};

use super::js;
use crate::error::{message, UploadError};
use crate::json;
use crate::options::{Options, OPTION_NAMES};

/// The file to upload and its name as the signature needs it.
pub struct Input {
    pub blob: Blob,
    pub size: u64,
    /// The full name; a Blob with no name is `"blob"`.
    pub file_name: String,
}

/// The JavaScript callbacks among the options. (The signal is watched from
/// the very start of the call, before the options are checked: see `web`.)
pub struct Hooks {
    pub get_signature: Function,
    pub on_progress: Option<Function>,
}

/// Checks the first argument: a non-empty `File` or `Blob`.
pub fn file(value: &JsValue, allow_empty: bool) -> Result<Input, UploadError> {
    let Some(blob) = value.dyn_ref::<Blob>() else {
        return Err(UploadError::bad_input(message(&[
            "The file must be a File or Blob (from <input type=file> or drag and drop), not ",
            &js::kind_of(value),
            ".",
        ])));
    };
    let size = blob.size() as u64;
    if size == 0 && !allow_empty {
        return Err(UploadError::bad_input(
            "The file is empty (0 bytes); there is nothing to upload.",
        ));
    }
    let file_name = value
        .dyn_ref::<File>()
        .map(File::name)
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "blob".to_owned());
    Ok(Input {
        blob: blob.clone(),
        size,
        file_name,
    })
}

/// Checks the options of `upload()`.
pub fn upload_options(value: &JsValue) -> Result<(Options, Hooks), UploadError> {
    if !value.is_object() {
        return Err(UploadError::bad_input(
            "upload(file, options) needs an options object with at least getSignature.",
        ));
    }
    check_names(value, &OPTION_NAMES)?;
    let mut options = Options::default();
    let get_signature = function(value, "getSignature")?.ok_or_else(|| {
        UploadError::bad_input("Option getSignature is missing: pass a function that asks your backend for a signature.")
    })?;
    if let Some(endpoint) = present(value, "endpoint") {
        let endpoint = endpoint
            .as_string()
            .ok_or_else(|| UploadError::bad_input("Option endpoint must be a string URL."))?;
        options.set_endpoint(&resolve_endpoint(&endpoint)?)?;
    }
    for name in [
        "partSize",
        "concurrency",
        "retries",
        "retryDelayMs",
        "timeoutMs",
    ] {
        if let Some(number) = present(value, name) {
            let number = number.as_f64().ok_or_else(|| {
                UploadError::bad_input(message(&["Option ", name, " must be a number."]))
            })?;
            options.set_number(name, number)?;
        }
    }
    if let Some(cache) = present(value, "cache") {
        options.cache = cache
            .as_bool()
            .ok_or_else(|| UploadError::bad_input("Option cache must be true or false."))?;
    }
    check_signal(value)?;
    let hooks = Hooks {
        get_signature,
        on_progress: function(value, "onProgress")?,
    };
    Ok((options, hooks))
}

/// Resolves the endpoint as `fetch` would resolve it: against the page's
/// base URL (`document.baseURI`) or, in a Worker, its `location`. So an app
/// that proxies the upload API under its own origin writes
/// `"/v2/index.php"`. Where there is neither (Node.js), only an absolute URL
/// can be fetched. What follows checks the scheme of the resolved URL.
fn resolve_endpoint(endpoint: &str) -> Result<String, UploadError> {
    match (js::resolve_url(endpoint), js::base_url()) {
        (Some(href), _) => Ok(href),
        (None, Some(base)) => Err(UploadError::bad_input(message(&[
            "Option endpoint ",
            &json::quoted(endpoint),
            " is not a URL (resolved against ",
            &json::quoted(&base),
            ").",
        ]))),
        (None, None) => Err(UploadError::bad_input(message(&[
            "Option endpoint ",
            &json::quoted(endpoint),
            " is not an absolute URL, and there is no page \
                 to resolve it against here: give an http:// or https:// URL.",
        ]))),
    }
}

/// Checks the options of `hashFile()`: only `onProgress` and `signal`.
pub fn hash_options(value: &JsValue) -> Result<Option<Function>, UploadError> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(UploadError::bad_input(
            "hashFile(file, options): options must be an object.",
        ));
    }
    check_names(value, &["onProgress", "signal"])?;
    check_signal(value)?;
    function(value, "onProgress")
}

/// Refuses unknown option names: a typo must not pass silently.
fn check_names(value: &JsValue, known: &[&str]) -> Result<(), UploadError> {
    let known = list(known);
    match js::unknown_option(value, &known) {
        Some(key) => Err(UploadError::bad_input(message(&[
            "Unknown option ",
            &json::quoted(&key),
            "; the options are ",
            &known,
            ".",
        ]))),
        None => Ok(()),
    }
}

/// `a, b, c`: the names a message lists.
fn list(names: &[&str]) -> String {
    let mut out = String::new();
    for name in names {
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(name);
    }
    out
}

/// The option's value, unless it is `undefined` or `null`.
fn present(value: &JsValue, name: &str) -> Option<JsValue> {
    let field = js::get(value, name);
    (!field.is_undefined() && !field.is_null()).then_some(field)
}

fn function(value: &JsValue, name: &str) -> Result<Option<Function>, UploadError> {
    match present(value, name) {
        None => Ok(None),
        Some(field) => field.dyn_into::<Function>().map(Some).map_err(|_| {
            UploadError::bad_input(message(&["Option ", name, " must be a function."]))
        }),
    }
}

fn check_signal(value: &JsValue) -> Result<(), UploadError> {
    match present(value, "signal") {
        Some(field) if !field.is_instance_of::<AbortSignal>() => Err(UploadError::bad_input(
            "Option signal must be an AbortSignal (controller.signal).",
        )),
        _ => Ok(()),
    }
}
