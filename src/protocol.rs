//! The wire protocol of the VOD v2 UGC upload: the three calls, their
//! parameters, their answers and the codes they carry.
//!
//! This module is the one source of truth shared by the browser module and
//! `vod-ugc-server`. Parsing is deliberately tolerant (numbers sent as
//! strings, a list entry's hash under another name or absent) because the
//! public pages describing the protocol are not consistent; building is strict.

use serde::{Deserialize, Deserializer, Serialize};

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitQuery {
    pub file_sha: String,
    pub file_size: u64,
    pub data_size: u64,
    pub signature: String,
}

/// Query of UploadPartUGC (POST, the part's bytes as the body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartQuery {
    pub file_sha: String,
    pub offset: u64,
    pub data_size: u64,
    pub data_md5: String,
    pub signature: String,
}

/// Query of FinishUploadUGC (GET).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinishQuery {
    pub file_sha: String,
    pub signature: String,
}

/// Builds the full request URL of a call: the endpoint with `Action` and the
/// call's parameters appended to its query string.
pub fn request_url(endpoint: &str, action: Action, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("Action", action.as_str());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{}", query.finish())
}

impl InitQuery {
    pub fn url(&self, endpoint: &str) -> String {
        request_url(
            endpoint,
            Action::InitUploadUgc,
            &[
                ("fileSha", &self.file_sha),
                ("fileSize", &self.file_size.to_string()),
                ("dataSize", &self.data_size.to_string()),
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
                ("offset", &self.offset.to_string()),
                ("dataSize", &self.data_size.to_string()),
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedPart {
    #[serde(deserialize_with = "lenient_u64")]
    pub offset: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub data_size: u64,
    /// MD5 of the stored part. One public example names this field
    /// `dataSha`; others leave it out, and then offset and size are enough.
    #[serde(
        default,
        alias = "dataSha",
        deserialize_with = "lenient_hash",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_md5: Option<String>,
}

/// Any answer of the three calls. Fields a call does not use are absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    #[serde(deserialize_with = "lenient_i64")]
    pub code: i64,
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: String,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code_desc: Option<String>,
    /// `1` means the same request may succeed if sent again.
    #[serde(
        default,
        deserialize_with = "lenient_opt_flag",
        skip_serializing_if = "Option::is_none"
    )]
    pub can_retry: Option<u8>,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub file_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    /// InitUploadUGC with code 1: the part size fixed by the earlier attempt.
    #[serde(
        default,
        deserialize_with = "lenient_opt_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub data_size: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_parts",
        skip_serializing_if = "Option::is_none"
    )]
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

    /// Parses an answer body. `None` when it is not a JSON object with a code.
    pub fn parse(body: &[u8]) -> Option<Answer> {
        match serde_json::from_slice(body).ok()? {
            object @ serde_json::Value::Object(_) => serde_json::from_value(object).ok(),
            _ => None,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an Answer always serializes")
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

// ---- lenient field parsing -------------------------------------------------

/// A JSON scalar as a server may send it: integer, float, string or bool.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
    Text(String),
    Null(()),
}

impl Scalar {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(v) => Some(*v),
            Scalar::Uint(v) => i64::try_from(*v).ok(),
            Scalar::Float(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Some(*v as i64),
            Scalar::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Uint(v) => Some(*v),
            Scalar::Text(s) => s.trim().parse().ok(),
            other => other.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }

    fn into_string(self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s),
            Scalar::Int(v) => Some(v.to_string()),
            Scalar::Uint(v) => Some(v.to_string()),
            Scalar::Float(v) => Some(v.to_string()),
            Scalar::Bool(_) | Scalar::Null(()) => None,
        }
    }
}

fn invalid<E: serde::de::Error>(what: &str) -> E {
    E::custom(format!("expected {what}"))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Scalar::deserialize(d)?
        .as_i64()
        .ok_or_else(|| invalid("an integer"))
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Scalar::deserialize(d)?
        .as_u64()
        .ok_or_else(|| invalid("a non-negative integer"))
}

fn lenient_opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Scalar::deserialize(d)?.as_u64())
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Scalar::deserialize(d)?.into_string().unwrap_or_default())
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_string())
}

fn lenient_opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Bool(b) => Some(u8::from(b)),
        other => other.as_i64().map(|v| u8::from(v == 1)),
    })
}

/// A hash that is not a string (or is empty) counts as absent.
fn lenient_hash<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) if !s.is_empty() => Some(s.to_ascii_lowercase()),
        _ => None,
    })
}

/// `listParts` as an array of entries; anything else counts as absent.
fn lenient_parts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<ListedPart>>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    match value {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Ok(None),
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
