//! The errors an upload ends with: the server's negative codes or the
//! client's own (-2000x), with the stage they happened in and a message that
//! tells a person what to do about it.

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
}

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
            (message, None | Some("")) => format!(": {message}"),
            ("", Some(desc)) => format!(": {desc}"),
            (message, Some(desc)) => format!(": {message} ({desc})"),
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
            format!(
                "{} was refused with code {} ({}){detail}.{hint}",
                stage.call(),
                answer.code,
                code::describe(answer.code)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
