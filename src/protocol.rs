//! The wire protocol of the VOD v2 UGC upload: the three calls, their
//! parameters, their answers and the codes they carry.
//!
//! This module is the one source of truth shared by the browser module and
//! `vod-ugc-server`. Parsing is deliberately tolerant (numbers sent as
//! strings, a list entry's hash under another name or absent) because the
//! public pages describing the protocol are not consistent; building is strict.

use crate::json::{self, Value, Writer};

/// The public endpoint of the real service.
pub const DEFAULT_ENDPOINT: &str = "https://vod2.qcloud.com/v2/index.php";

/// The three calls of an upload, named exactly as in the `Action` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    InitUploadUgc,
    UploadPartUgc,
    FinishUploadUgc,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::InitUploadUgc => "InitUploadUGC",
            Action::UploadPartUgc => "UploadPartUGC",
            Action::FinishUploadUgc => "FinishUploadUGC",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        [
            Action::InitUploadUgc,
            Action::UploadPartUgc,
            Action::FinishUploadUgc,
        ]
        .into_iter()
        .find(|action| action.as_str() == name)
    }
}

/// Answer codes. Zero and the positive codes are successes; every negative
/// code is a failure.
pub mod code {
    /// Success; for InitUploadUGC: a fresh start, upload every part.
    pub const OK: i64 = 0;
    /// InitUploadUGC: the server holds some parts already (resume).
    pub const RESUME: i64 = 1;
    /// InitUploadUGC: the server has the whole file already (instant upload).
    pub const INSTANT: i64 = 2;
    /// The common parameters are invalid.
    pub const COMMON_PARAMS: i64 = -10001;
    /// The signature is invalid: bad HMAC, expired, or `fs` is not `fileSha`.
    pub const SIGNATURE: i64 = -10002;
    /// A protocol parameter is invalid (offset, dataSize, fileSize, sha...).
    pub const PROTOCOL_PARAMS: i64 = -10003;
    /// The server failed to write the upload state.
    pub const WRITE_STATE: i64 = -10004;
    /// The server failed to read the upload state (e.g. no such upload).
    pub const READ_STATE: i64 = -10005;
    /// The body is invalid: its length or MD5 does not match.
    pub const BODY: i64 = -10006;

    /// A short English description of a server code, for messages.
    pub fn describe(code: i64) -> &'static str {
        match code {
            OK => "success",
            RESUME => "resumable upload",
            INSTANT => "instant upload",
            COMMON_PARAMS => "common parameters invalid",
            SIGNATURE => "signature invalid",
            PROTOCOL_PARAMS => "protocol parameters invalid",
            WRITE_STATE => "failed to write upload state",
            READ_STATE => "failed to read upload state",
            BODY => "body invalid",
            _ => "passing failure",
        }
    }
}

/// The part sizes a client may ask for in InitUploadUGC.
pub const PART_SIZES: [u64; 2] = [524_288, 1_048_576];

/// Query of InitUploadUGC (GET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitQuery {
    pub file_sha: String,
    pub file_size: u64,
    pub data_size: u64,
    pub signature: String,
}

/// Query of UploadPartUGC (POST, the part's bytes as the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartQuery {
    pub file_sha: String,
    pub offset: u64,
    pub data_size: u64,
    pub data_md5: String,
    pub signature: String,
}

/// Query of FinishUploadUGC (GET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishQuery {
    pub file_sha: String,
    pub signature: String,
}

/// Builds the full request URL of a call: the endpoint with `Action` and the
/// call's parameters appended to its query string
/// (`application/x-www-form-urlencoded`, as a form would send them).
pub fn request_url(endpoint: &str, action: Action, params: &[(&str, &str)]) -> String {
    let mut url = String::with_capacity(endpoint.len() + 256);
    url.push_str(endpoint);
    url.push(if endpoint.contains('?') { '&' } else { '?' });
    url.push_str("Action=");
    url.push_str(action.as_str());
    for (name, value) in params {
        url.push('&');
        push_form_encoded(&mut url, name);
        url.push('=');
        push_form_encoded(&mut url, value);
    }
    url
}

/// Appends `text` form-encoded: ASCII letters, digits and `*-._` as they
/// are, space as `+`, every other byte as `%XX`.
fn push_form_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 15)] as char);
            }
        }
    }
}

impl InitQuery {
    pub fn url(&self, endpoint: &str) -> String {
        request_url(
            endpoint,
            Action::InitUploadUgc,
            &[
                ("fileSha", &self.file_sha),
                ("fileSize", &json::uint_text(self.file_size)),
                ("dataSize", &json::uint_text(self.data_size)),
                ("signature", &self.signature),
            ],
        )
    }
}

impl PartQuery {
    pub fn url(&self, endpoint: &str) -> String {
        request_url(
            endpoint,
            Action::UploadPartUgc,
            &[
                ("fileSha", &self.file_sha),
                ("offset", &json::uint_text(self.offset)),
                ("dataSize", &json::uint_text(self.data_size)),
                ("dataMd5", &self.data_md5),
                ("signature", &self.signature),
            ],
        )
    }
}

impl FinishQuery {
    pub fn url(&self, endpoint: &str) -> String {
        request_url(
            endpoint,
            Action::FinishUploadUgc,
            &[("fileSha", &self.file_sha), ("signature", &self.signature)],
        )
    }
}

/// A part the server already holds, as listed in a resume answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    pub offset: u64,
    pub data_size: u64,
    /// MD5 of the stored part. One public example names this field
    /// `dataSha`; others leave it out, and then offset and size are enough.
    pub data_md5: Option<String>,
}

/// Any answer of the three calls. Fields a call does not use are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub code: i64,
    pub message: String,
    pub code_desc: Option<String>,
    /// `1` means the same request may succeed if sent again.
    pub can_retry: Option<u8>,
    pub file_id: Option<String>,
    pub url: Option<String>,
    /// InitUploadUGC with code 1: the part size fixed by the earlier attempt.
    pub data_size: Option<u64>,
    pub list_parts: Option<Vec<ListedPart>>,
}

impl Answer {
    /// A success answer with nothing else in it.
    pub fn ok() -> Answer {
        Answer {
            code: code::OK,
            ..Answer::default()
        }
    }

    /// A failure answer; `can_retry` says whether the same request may work.
    pub fn failure(code: i64, message: impl Into<String>, can_retry: bool) -> Answer {
        Answer {
            code,
            message: message.into(),
            can_retry: Some(u8::from(can_retry)),
            ..Answer::default()
        }
    }

    /// Parses an answer body. `None` when it is not a JSON object with a
    /// code. Tolerant (see the module documentation): numbers may come as
    /// strings and strings as numbers, `canRetry` as a boolean; a field of
    /// the wrong kind counts as absent; a `listParts` entry needs an offset
    /// and a size, and its hash may be named `dataMd5` or `dataSha`.
    pub fn parse(body: &[u8]) -> Option<Answer> {
        let answer = json::parse(body)?;
        if !matches!(answer, Value::Object(_)) {
            return None;
        }
        let text = |name: &str| answer.get(name).and_then(Value::to_text);
        let list_parts = match answer.get("listParts") {
            Some(Value::Array(entries)) => Some(
                entries
                    .iter()
                    .map(ListedPart::from_json)
                    .collect::<Option<Vec<_>>>()?,
            ),
            _ => None,
        };
        Some(Answer {
            code: answer.get("code")?.as_i64()?,
            message: text("message").unwrap_or_default(),
            code_desc: text("codeDesc"),
            can_retry: answer.get("canRetry").and_then(|flag| match flag {
                Value::Bool(b) => Some(u8::from(*b)),
                other => other.as_i64().map(|v| u8::from(v == 1)),
            }),
            file_id: text("fileId"),
            url: text("url"),
            data_size: answer.get("dataSize").and_then(Value::as_u64),
            list_parts,
        })
    }

    /// The answer as JSON, fields in the protocol's order, absent ones left
    /// out.
    pub fn to_json(&self) -> String {
        let mut json = Writer::object();
        json.integer("code", self.code)
            .string("message", &self.message);
        if let Some(desc) = &self.code_desc {
            json.string("codeDesc", desc);
        }
        if let Some(flag) = self.can_retry {
            json.integer("canRetry", i64::from(flag));
        }
        if let Some(file_id) = &self.file_id {
            json.string("fileId", file_id);
        }
        if let Some(url) = &self.url {
            json.string("url", url);
        }
        if let Some(size) = self.data_size {
            json.raw("dataSize", &json::uint_text(size));
        }
        if let Some(parts) = &self.list_parts {
            let mut list = String::from("[");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    list.push(',');
                }
                let mut entry = Writer::object();
                entry
                    .raw("offset", &json::uint_text(part.offset))
                    .raw("dataSize", &json::uint_text(part.data_size));
                if let Some(md5) = &part.data_md5 {
                    entry.string("dataMd5", md5);
                }
                list.push_str(&entry.finish());
            }
            list.push(']');
            json.raw("listParts", &list);
        }
        json.finish()
    }

    pub fn is_failure(&self) -> bool {
        self.code < 0
    }

    pub fn can_retry(&self) -> bool {
        self.can_retry == Some(1)
    }
}

/// True for `len` lowercase hex digits.
pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a SHA-1 in the protocol's form: 40 lowercase hex digits.
pub fn is_sha1_hex(s: &str) -> bool {
    is_lower_hex(s, 40)
}

/// True for an MD5 in the protocol's form: 32 lowercase hex digits.
pub fn is_md5_hex(s: &str) -> bool {
    is_lower_hex(s, 32)
}

/// Lowercase hex of a digest.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 15)] as char);
    }
    out
}

impl ListedPart {
    /// An entry of `listParts`: `None` without a usable offset and size. A
    /// hash that is not a non-empty string counts as absent.
    fn from_json(entry: &Value<'_>) -> Option<ListedPart> {
        let hash = entry.get("dataMd5").or_else(|| entry.get("dataSha"));
        Some(ListedPart {
            offset: entry.get("offset")?.as_u64()?,
            data_size: entry.get("dataSize")?.as_u64()?,
            data_md5: match hash {
                Some(Value::String(hash)) if !hash.is_empty() => Some(hash.to_ascii_lowercase()),
                _ => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip() {
        for action in [
            Action::InitUploadUgc,
            Action::UploadPartUgc,
            Action::FinishUploadUgc,
        ] {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        assert_eq!(Action::parse("initUploadUGC"), None);
        assert_eq!(Action::parse(""), None);
    }

    #[test]
    fn urls_encode_the_signature() {
        let q = FinishQuery {
            file_sha: "a".repeat(40),
            signature: "ab+c/d==".into(),
        };
        assert_eq!(
            q.url("http://h/v2/index.php"),
            format!(
                "http://h/v2/index.php?Action=FinishUploadUGC&fileSha={}&signature=ab%2Bc%2Fd%3D%3D",
                "a".repeat(40)
            )
        );
        assert!(q
            .url("http://h/x?k=1")
            .starts_with("http://h/x?k=1&Action="));
    }

    #[test]
    fn part_url_carries_every_parameter() {
        let q = PartQuery {
            file_sha: "f".repeat(40),
            offset: 5_242_880,
            data_size: 757_120,
            data_md5: "0".repeat(32),
            signature: "s".into(),
        };
        let url = q.url("http://h/");
        for needle in [
            "Action=UploadPartUGC",
            "offset=5242880",
            "dataSize=757120",
            "dataMd5=000",
            "signature=s",
        ] {
            assert!(url.contains(needle), "{url} lacks {needle}");
        }
    }

    #[test]
    fn parses_the_seed_example() {
        let body = br#"{
            "code": 0,
            "message": "",
            "fileId": "7031868222808505913",
            "url": "http://10013.vod2.myqcloud.com/vod10013/7031868222808505913/f0.mp4"
        }"#;
        let a = Answer::parse(body).unwrap();
        assert_eq!(a.code, 0);
        assert_eq!(a.file_id.as_deref(), Some("7031868222808505913"));
        assert!(a.url.unwrap().ends_with("f0.mp4"));
    }

    #[test]
    fn parses_resume_lists_in_every_spelling() {
        let body = br#"{"code":"1","dataSize":"524288","canRetry":true,"listParts":[
            {"offset":0,"dataSize":524288,"dataMd5":"AB"},
            {"offset":"524288","dataSize":524288,"dataSha":"cd"},
            {"offset":1048576,"dataSize":100}
        ]}"#;
        let a = Answer::parse(body).unwrap();
        assert_eq!(a.code, code::RESUME);
        assert_eq!(a.data_size, Some(524_288));
        assert!(a.can_retry());
        let parts = a.list_parts.unwrap();
        assert_eq!(parts[0].data_md5.as_deref(), Some("ab"));
        assert_eq!(parts[1].offset, 524_288);
        assert_eq!(parts[1].data_md5.as_deref(), Some("cd"));
        assert_eq!(parts[2].data_md5, None);
    }

    #[test]
    fn numeric_file_id_becomes_a_string() {
        let a = Answer::parse(br#"{"code":2,"fileId":7031868222808505913,"url":"u"}"#).unwrap();
        assert_eq!(a.file_id.as_deref(), Some("7031868222808505913"));
    }

    #[test]
    fn rejects_what_is_not_an_answer() {
        assert!(Answer::parse(b"<html>502</html>").is_none());
        assert!(Answer::parse(b"[1,2]").is_none());
        assert!(Answer::parse(br#"{"message":"no code"}"#).is_none());
        assert!(Answer::parse(br#"{"code":"abc"}"#).is_none());
    }

    #[test]
    fn more_tolerance_and_what_still_fails() {
        let a = Answer::parse(
            br#"{"code":2.0,"canRetry":"1","fileId":"","url":null,"dataSize":-5,"message":7}"#,
        )
        .unwrap();
        assert_eq!(a.code, 2);
        assert!(a.can_retry());
        assert_eq!(a.file_id.as_deref(), Some(""));
        assert_eq!(a.url, None);
        assert_eq!(a.data_size, None, "a negative size counts as absent");
        assert_eq!(a.message, "7");
        assert_eq!(
            Answer::parse(br#"{"code":0,"canRetry":false}"#)
                .unwrap()
                .can_retry,
            Some(0)
        );
        assert_eq!(
            Answer::parse(br#"{"code":0,"canRetry":2}"#)
                .unwrap()
                .can_retry,
            Some(0)
        );
        assert_eq!(
            Answer::parse(br#"{"code":0,"listParts":"none"}"#)
                .unwrap()
                .list_parts,
            None
        );
        let empty_hash =
            Answer::parse(br#"{"code":1,"listParts":[{"offset":0,"dataSize":1,"dataMd5":""}]}"#)
                .unwrap();
        assert_eq!(empty_hash.list_parts.unwrap()[0].data_md5, None);
        // An entry without its offset spoils the answer; so does bad JSON.
        assert!(Answer::parse(br#"{"code":1,"listParts":[{"dataSize":1}]}"#).is_none());
        assert!(Answer::parse(br#"{"code":0,}"#).is_none());
        assert!(Answer::parse(br#"{"code":1.5}"#).is_none());
        assert!(Answer::parse(br#"{"code":true}"#).is_none());
        assert!(Answer::parse(b"").is_none());
    }

    #[test]
    fn every_field_round_trips_and_is_the_json_serde_json_reads() {
        let full = Answer {
            code: code::RESUME,
            message: "partly \"there\"\n".into(),
            code_desc: Some("desc".into()),
            can_retry: Some(1),
            file_id: Some("7031868222808505913".into()),
            url: Some("http://h/f.mp4".into()),
            data_size: Some(524_288),
            list_parts: Some(vec![
                ListedPart {
                    offset: 0,
                    data_size: 524_288,
                    data_md5: Some("ab".repeat(16)),
                },
                ListedPart {
                    offset: 524_288,
                    data_size: 100,
                    data_md5: None,
                },
            ]),
        };
        let json = full.to_json();
        assert_eq!(Answer::parse(json.as_bytes()), Some(full.clone()));
        let serde = serde_json::json!({
            "code": 1, "message": full.message, "codeDesc": "desc", "canRetry": 1,
            "fileId": "7031868222808505913", "url": "http://h/f.mp4", "dataSize": 524288,
            "listParts": [{"offset": 0, "dataSize": 524288, "dataMd5": "ab".repeat(16)},
                          {"offset": 524288, "dataSize": 100}],
        });
        let written: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(written, serde);
        assert!(
            json.starts_with(r#"{"code":1,"message":"#),
            "the protocol's order: {json}"
        );
    }

    #[test]
    fn failure_serializes_integers() {
        let json = Answer::failure(code::READ_STATE, "no such upload", false).to_json();
        assert_eq!(
            json,
            r#"{"code":-10005,"message":"no such upload","canRetry":0}"#
        );
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert!(is_sha1_hex(&"0a".repeat(20)));
        assert!(!is_sha1_hex(&"0A".repeat(20)));
        assert!(!is_md5_hex(&"0".repeat(31)));
    }
}
