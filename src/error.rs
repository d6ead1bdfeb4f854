//! The errors an upload ends with: the server's negative codes or the
//! client's own (-2000x), with the stage they happened in and a message that
//! tells a person what to do about it.

use crate::json;
use crate::protocol::{code, Answer};

/// Client codes, from the public API contract.
pub mod client_code {
    /// Bad input: not a Blob, an empty file, no getSignature, a bad option.
    pub const BAD_INPUT: i64 = -20001;
    /// getSignature failed or gave no string.
    pub const SIGNATURE_FAILED: i64 = -20002;
    /// Network failure after all retries.
    pub const NETWORK: i64 = -20003;
    /// Request timed out after all retries.
    pub const TIMEOUT: i64 = -20004;
    /// The server's answer was not understood.
    pub const BAD_ANSWER: i64 = -20005;
    /// The file could not be read: it was changed, moved or deleted since
    /// it was picked. Not bad input (-20001): the same file, picked again,
    /// uploads (and resumes where it stopped).
    pub const FILE_UNREADABLE: i64 = -20006;
    /// The WebAssembly module could not be loaded: the engine has no
    /// WebAssembly SIMD (older than Chrome 91, Firefox 89, Safari 16.4), or
    /// the `.wasm` could not be fetched or compiled. Raised by the package's
    /// JavaScript loader (`js/vod_ugc_upload_load.js`), before this crate runs.
    pub const LOAD_FAILED: i64 = -20007;
}

/// Every error code under the name the npm package exports it by
/// (`codes.SIGNATURE_INVALID === -10002`). `js/vod_ugc_upload_codes.js` and
/// the `codes` type in `js/vod_ugc_upload.d.ts` are checked against this
/// table by a test, so the JavaScript names cannot drift from these values.
pub const CODE_NAMES: [(&str, i64); 13] = [
    ("COMMON_PARAMS_INVALID", code::COMMON_PARAMS),
    ("SIGNATURE_INVALID", code::SIGNATURE),
    ("PROTOCOL_PARAMS_INVALID", code::PROTOCOL_PARAMS),
    ("STATE_WRITE_FAILED", code::WRITE_STATE),
    ("STATE_READ_FAILED", code::READ_STATE),
    ("PART_BODY_INVALID", code::BODY),
    ("BAD_INPUT", client_code::BAD_INPUT),
    ("SIGNATURE_FAILED", client_code::SIGNATURE_FAILED),
    ("NETWORK_FAILED", client_code::NETWORK),
    ("TIMED_OUT", client_code::TIMEOUT),
    ("BAD_ANSWER", client_code::BAD_ANSWER),
    ("FILE_UNREADABLE", client_code::FILE_UNREADABLE),
    ("LOAD_FAILED", client_code::LOAD_FAILED),
];

/// Where in an upload an error happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Input,
    Hash,
    Sign,
    Init,
    Part,
    Finish,
}

impl Stage {
    /// The name the JavaScript API uses.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Input => "input",
            Stage::Hash => "hash",
            Stage::Sign => "sign",
            Stage::Init => "init",
            Stage::Part => "part",
            Stage::Finish => "finish",
        }
    }

    /// The protocol call made in this stage, for messages.
    pub fn call(self) -> &'static str {
        match self {
            Stage::Init => "InitUploadUGC",
            Stage::Part => "UploadPartUGC",
            Stage::Finish => "FinishUploadUGC",
            Stage::Input | Stage::Hash | Stage::Sign => "the upload",
        }
    }
}

/// An upload that failed: surfaced to JavaScript as an `Error` named `UgcError`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadError {
    pub code: i64,
    pub can_retry: bool,
    pub stage: Stage,
    pub message: String,
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UploadError {}

impl UploadError {
    pub fn new(
        code: i64,
        can_retry: bool,
        stage: Stage,
        message: impl Into<String>,
    ) -> UploadError {
        UploadError {
            code,
            can_retry,
            stage,
            message: message.into(),
        }
    }

    /// Bad input from the calling code (-20001); never retryable as is.
    pub fn bad_input(message: impl Into<String>) -> UploadError {
        UploadError::new(client_code::BAD_INPUT, false, Stage::Input, message)
    }

    /// A failure answer (negative code) from the server.
    pub fn from_answer(stage: Stage, answer: &Answer) -> UploadError {
        let detail = match (
            answer.message.trim(),
            answer.code_desc.as_deref().map(str::trim),
        ) {
            ("", None | Some("")) => String::new(),
            (message, None | Some("")) => [": ", message].concat(),
            ("", Some(desc)) => [": ", desc].concat(),
            (message, Some(desc)) => [": ", message, " (", desc, ")"].concat(),
        };
        let hint = match answer.code {
            code::SIGNATURE => {
                " Get a fresh signature from your backend for this file's SHA-1, and check its SecretId, SecretKey and clock."
            }
            code::COMMON_PARAMS | code::PROTOCOL_PARAMS => {
                " The request was refused as malformed; check the endpoint and that the file did not change during the upload."
            }
            code::READ_STATE => " The server lost track of this upload; start it again.",
            code::BODY => {
                " A part did not arrive intact; the file may have changed while it was uploading. Start the upload again."
            }
            _ if answer.can_retry() => " The server says trying again may work.",
            _ => "",
        };
        UploadError::new(
            answer.code,
            answer.can_retry(),
            stage,
            [
                stage.call(),
                " was refused with code ",
                &json::int_text(answer.code),
                " (",
                code::describe(answer.code),
                ")",
                &detail,
                ".",
                hint,
            ]
            .concat(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `NAME: value` pairs of `const codes` in a JavaScript or
    /// TypeScript source: lines `  NAME: -10002,` (JS) or
    /// `  readonly NAME: -10002;` (d.ts) between `codes` and the closing brace.
    fn js_codes(source: &str) -> Vec<(String, i64)> {
        let block = source
            .split_once("const codes")
            .and_then(|(_, rest)| rest.split_once('{'))
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(block, _)| block)
            .expect("a codes { ... } block");
        block
            .lines()
            .map(str::trim)
            .filter(|line| {
                !line.is_empty()
                    && !line.starts_with("//")
                    && !line.starts_with("/*")
                    && !line.starts_with('*')
            })
            .map(|line| {
                let line = line
                    .trim_start_matches("readonly ")
                    .trim_end_matches([',', ';']);
                let (name, value) = line.split_once(':').expect("NAME: value");
                (
                    name.trim().to_owned(),
                    value.trim().parse().expect("an integer code"),
                )
            })
            .collect()
    }

    #[test]
    fn the_packages_codes_are_the_crates() {
        let expected: Vec<(String, i64)> = CODE_NAMES
            .iter()
            .map(|&(name, code)| (name.to_owned(), code))
            .collect();
        for (file, source) in [
            (
                "js/vod_ugc_upload_codes.js",
                include_str!("../js/vod_ugc_upload_codes.js"),
            ),
            (
                "js/vod_ugc_upload.d.ts",
                include_str!("../js/vod_ugc_upload.d.ts"),
            ),
        ] {
            assert_eq!(
                js_codes(source),
                expected,
                "the codes in {file} must be CODE_NAMES, in order"
            );
        }
        // Every negative code the crate defines (the server's in protocol.rs,
        // the client's here) has a name: a new code cannot be left out.
        for source in [include_str!("protocol.rs"), include_str!("error.rs")] {
            for line in source.lines().map(str::trim) {
                let Some((_, value)) = line
                    .strip_prefix("pub const ")
                    .and_then(|rest| rest.split_once(": i64 = -"))
                else {
                    continue;
                };
                let code = -value.trim_end_matches(';').parse::<i64>().unwrap();
                assert!(
                    CODE_NAMES.iter().any(|&(_, named)| named == code),
                    "{line}: add it to CODE_NAMES"
                );
            }
        }
    }

    #[test]
    fn server_refusals_say_what_to_do() {
        let mut answer = Answer::failure(code::SIGNATURE, "signature has expired", false);
        let e = UploadError::from_answer(Stage::Init, &answer);
        assert_eq!((e.code, e.can_retry, e.stage), (-10002, false, Stage::Init));
        assert_eq!(
            e.message,
            "InitUploadUGC was refused with code -10002 (signature invalid): signature has expired. \
             Get a fresh signature from your backend for this file's SHA-1, and check its SecretId, SecretKey and clock."
        );
        answer.code_desc = Some("hmac".into());
        assert!(UploadError::from_answer(Stage::Init, &answer)
            .message
            .contains("signature has expired (hmac)"));

        let e = UploadError::from_answer(Stage::Part, &Answer::failure(-50, "", true));
        assert!(e.can_retry);
        assert_eq!(
            e.message,
            "UploadPartUGC was refused with code -50 (passing failure). The server says trying again may work."
        );
    }
}
