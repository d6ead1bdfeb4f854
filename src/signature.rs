//! The UGC upload signature: built by an app's backend (which holds the
//! SecretKey) and checked by the server.
//!
//! `Sign = Base64(HMAC-SHA1(SecretKey, Original) ++ Original)`, where
//! `Original` is an unsorted query string such as
//! `s=SecretId&f=FileName&fs=FileSha&t=Now&e=Expiry&r=Rand&uid=UserId`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// Longest allowed validity window: `e - t` of 90 days.
pub const MAX_VALIDITY_SECS: u64 = 7_776_000;
/// Tolerated difference between the signer's clock and the verifier's.
pub const CLOCK_SKEW_SECS: u64 = 300;
/// Longest file name `f`, in bytes.
pub const MAX_FILE_NAME_BYTES: usize = 40;
/// Characters a file name `f` must not contain.
pub const FORBIDDEN_NAME_CHARS: &[char] = &['\\', '/', ':', '*', '?', '"', '<', '>'];

const HMAC_LEN: usize = 20;

/// Accepts Base64 with or without its `=` padding.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a signature says: the fields of `Original`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// `s`: the SecretId whose key signed.
    pub secret_id: String,
    /// `f`: the file name, without extension.
    pub file_name: String,
    /// `fs`: SHA-1 of the file, lowercase hex.
    pub file_sha: String,
    /// `t`: issued at, Unix seconds.
    pub issued_at: u64,
    /// `e`: expires at, Unix seconds.
    pub expires_at: u64,
    /// `r`: a random number, at most 10 digits.
    pub rand: u64,
    /// `uid`: the app's user id.
    pub uid: String,
    /// `ft`: the extension, without the dot.
    pub file_type: Option<String>,
    /// `tc`: 1 to transcode.
    pub transcode: bool,
    /// `ss`: 1 to take a snapshot (with `tc`).
    pub snapshot: bool,
    /// `wm`: 1 to watermark (with `tc`).
    pub watermark: bool,
    /// `cid`: category id.
    pub class_id: Option<String>,
    /// `tag.1`..`tag.10`.
    pub tags: Vec<String>,
}

impl Claims {
    /// The `Original` query string, fields in the protocol's order, values
    /// percent-encoded.
    pub fn original(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("s", &self.secret_id)
            .append_pair("f", &self.file_name)
            .append_pair("fs", &self.file_sha)
            .append_pair("t", &self.issued_at.to_string())
            .append_pair("e", &self.expires_at.to_string())
            .append_pair("r", &self.rand.to_string())
            .append_pair("uid", &self.uid);
        if let Some(ft) = &self.file_type {
            q.append_pair("ft", ft);
        }
        for (name, on) in [
            ("tc", self.transcode),
            ("ss", self.snapshot),
            ("wm", self.watermark),
        ] {
            if on {
                q.append_pair(name, "1");
            }
        }
        if let Some(cid) = &self.class_id {
            q.append_pair("cid", cid);
        }
        for (i, tag) in self.tags.iter().enumerate() {
            q.append_pair(&format!("tag.{}", i + 1), tag);
        }
        q.finish()
    }

    /// Signs these claims with `secret_key`, giving the `signature` parameter.
    pub fn sign(&self, secret_key: &[u8]) -> String {
        sign_original(secret_key, &self.original())
    }

    /// Parses an `Original` query string, checking each field's form (not
    /// the HMAC, not the clock).
    pub fn parse(original: &str) -> Result<Claims, SignatureError> {
        let mut claims = Claims::default();
        let mut seen = [false; 6];
        for (name, value) in form_urlencoded::parse(original.as_bytes()) {
            let value = value.into_owned();
            let number = |field: &'static str| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|_| !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(SignatureError::Malformed(field))
            };
            match name.as_ref() {
                "s" => (claims.secret_id, seen[0]) = (value, true),
                "f" => (claims.file_name, seen[1]) = (value, true),
                "fs" => (claims.file_sha, seen[2]) = (value.to_ascii_lowercase(), true),
                "t" => (claims.issued_at, seen[3]) = (number("t")?, true),
                "e" => (claims.expires_at, seen[4]) = (number("e")?, true),
                "r" => {
                    if value.len() > 10 {
                        return Err(SignatureError::Malformed("r"));
                    }
                    (claims.rand, seen[5]) = (number("r")?, true);
                }
                "uid" => claims.uid = value,
                "ft" => claims.file_type = Some(value),
                "tc" => claims.transcode = value == "1",
                "ss" => claims.snapshot = value == "1",
                "wm" => claims.watermark = value == "1",
                "cid" => claims.class_id = Some(value),
                tag if tag.starts_with("tag.") => {
                    if claims.tags.len() >= 10 {
                        return Err(SignatureError::Malformed("tag"));
                    }
                    claims.tags.push(value);
                }
                _ => {}
            }
        }
        const NAMES: [&str; 6] = ["s", "f", "fs", "t", "e", "r"];
        if let Some(i) = seen.iter().position(|seen| !seen) {
            return Err(SignatureError::Missing(NAMES[i]));
        }
        check_file_name(&claims.file_name)?;
        Ok(claims)
    }
}

/// Checks the `f` rules: not empty, at most 40 bytes, none of `\ / : * ? " < >`.
pub fn check_file_name(name: &str) -> Result<(), SignatureError> {
    if name.is_empty() || name.len() > MAX_FILE_NAME_BYTES || name.contains(FORBIDDEN_NAME_CHARS) {
        return Err(SignatureError::BadFileName);
    }
    Ok(())
}

/// Splits a file's full name into `f` (the name without its extension) and
/// `ft` (the extension without the dot, lowercase), as a signature wants
/// them. A leading dot (".profile") is not an extension.
pub fn split_file_name(file_name: &str) -> (String, String) {
    match file_name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() && !extension.is_empty() => {
            (stem.to_owned(), extension.to_ascii_lowercase())
        }
        _ => (file_name.to_owned(), String::new()),
    }
}

/// `Base64(HMAC-SHA1(key, original) ++ original)`.
pub fn sign_original(secret_key: &[u8], original: &str) -> String {
    let mut mac = HmacSha1::new_from_slice(secret_key).expect("HMAC takes a key of any length");
    mac.update(original.as_bytes());
    let mut raw = mac.finalize().into_bytes().to_vec();
    raw.extend_from_slice(original.as_bytes());
    STANDARD.encode(raw)
}

/// Why a signature was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureError {
    /// Empty, not Base64, too short, or not UTF-8.
    Undecodable,
    /// A required field of `Original` is missing.
    Missing(&'static str),
    /// A field of `Original` is not in its form.
    Malformed(&'static str),
    /// `f` breaks the file name rules.
    BadFileName,
    /// No key is known for `s`.
    UnknownSecretId,
    /// The HMAC does not match.
    BadHmac,
    /// `t` lies in the future, beyond the allowed clock skew.
    NotYetValid,
    /// `e` has passed.
    Expired,
    /// `e` is before `t`, or `e - t` is more than 90 days.
    BadValidity,
    /// `fs` is not the request's `fileSha`.
    ShaMismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::Undecodable => f.write_str("signature is not Base64 of HMAC and text"),
            SignatureError::Missing(name) => write!(f, "signature lacks field {name}"),
            SignatureError::Malformed(name) => write!(f, "signature field {name} is malformed"),
            SignatureError::BadFileName => {
                f.write_str("signature field f must be 1 to 40 bytes without \\ / : * ? \" < >")
            }
            SignatureError::UnknownSecretId => f.write_str("signature names an unknown SecretId"),
            SignatureError::BadHmac => f.write_str("signature HMAC does not match"),
            SignatureError::NotYetValid => {
                f.write_str("signature is not valid yet (t is in the future)")
            }
            SignatureError::Expired => f.write_str("signature has expired"),
            SignatureError::BadValidity => {
                f.write_str("signature validity e - t must be 0 to 90 days")
            }
            SignatureError::ShaMismatch => f.write_str("signature fs does not match fileSha"),
        }
    }
}

impl std::error::Error for SignatureError {}

/// Checks a signature completely: decoding, the key of `s`, the HMAC (in
/// constant time), the validity window against `now` and `fs == file_sha`.
///
/// `t` may lie up to [`CLOCK_SKEW_SECS`] ahead of `now` (a signer whose
/// clock runs fast), but `e` is taken as it is: the signer chose how long
/// its signature lasts, a short-lived one must not live minutes longer, and
/// a client whose signature expires mid-upload asks for a fresh one.
pub fn verify<'k>(
    signature: &str,
    key_for: impl Fn(&str) -> Option<&'k [u8]>,
    file_sha: &str,
    now: u64,
) -> Result<Claims, SignatureError> {
    let raw = LENIENT_BASE64
        .decode(signature.trim())
        .map_err(|_| SignatureError::Undecodable)?;
    if raw.len() <= HMAC_LEN {
        return Err(SignatureError::Undecodable);
    }
    let (tag, original) = raw.split_at(HMAC_LEN);
    let original = std::str::from_utf8(original).map_err(|_| SignatureError::Undecodable)?;
    let claims = Claims::parse(original)?;
    let key = key_for(&claims.secret_id).ok_or(SignatureError::UnknownSecretId)?;
    let mut mac = HmacSha1::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(original.as_bytes());
    mac.verify_slice(tag).map_err(|_| SignatureError::BadHmac)?;
    if claims.expires_at < claims.issued_at
        || claims.expires_at - claims.issued_at > MAX_VALIDITY_SECS
    {
        return Err(SignatureError::BadValidity);
    }
    if claims.issued_at > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(SignatureError::NotYetValid);
    }
    if now > claims.expires_at {
        return Err(SignatureError::Expired);
    }
    if claims.file_sha != file_sha.to_ascii_lowercase() {
        return Err(SignatureError::ShaMismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "b4a5c70c76e79e01ab3a5c306de3d9eedeadeca9";

    fn claims() -> Claims {
        Claims {
            secret_id: "AKIDtest".into(),
            file_name: "holiday".into(),
            file_sha: SHA.into(),
            issued_at: 1_700_000_000,
            expires_at: 1_700_086_400,
            rand: 1_234_567_890,
            uid: "42".into(),
            file_type: Some("mp4".into()),
            ..Claims::default()
        }
    }

    fn keys(id: &str) -> Option<&'static [u8]> {
        (id == "AKIDtest").then_some(b"secret-key".as_slice())
    }

    /// Vectors computed independently with Python:
    /// `base64.b64encode(hmac.new(key, orig, hashlib.sha1).digest() + orig)`.
    #[test]
    fn matches_python_hmac_vectors() {
        let original = claims().original();
        assert_eq!(
            original,
            "s=AKIDtest&f=holiday&fs=b4a5c70c76e79e01ab3a5c306de3d9eedeadeca9&t=1700000000&e=1700086400&r=1234567890&uid=42&ft=mp4"
        );
        assert_eq!(claims().sign(b"secret-key"), PYTHON_VECTOR_1);
        assert_eq!(sign_original(b"k", "s=a&f=b"), PYTHON_VECTOR_2);
    }

    const PYTHON_VECTOR_1: &str =
        "A/mDeA0RgpuXcDwSZjKs7Mb/PVxzPUFLSUR0ZXN0JmY9aG9saWRheSZmcz1iNGE1YzcwYzc2ZTc5ZTAxYWIzYTVjMzA2ZGUzZDllZWRlYWRlY2E5JnQ9MTcwMDAwMDAwMCZlPTE3MDAwODY0MDAmcj0xMjM0NTY3ODkwJnVpZD00MiZmdD1tcDQ=";
    const PYTHON_VECTOR_2: &str = "rt0WxCGop+vdwToVU7PmWitnZlxzPWEmZj1i";

    #[test]
    fn splits_file_names() {
        let split = split_file_name;
        assert_eq!(split("holiday.MP4"), ("holiday".into(), "mp4".into()));
        assert_eq!(split("archive.tar.gz"), ("archive.tar".into(), "gz".into()));
        assert_eq!(split("blob"), ("blob".into(), "".into()));
        assert_eq!(split(".profile"), (".profile".into(), "".into()));
        assert_eq!(split("trailing."), ("trailing.".into(), "".into()));
        assert_eq!(split("视频.mov"), ("视频".into(), "mov".into()));
    }

    #[test]
    fn verifies_what_it_signs() {
        let sig = claims().sign(b"secret-key");
        let got = verify(&sig, keys, SHA, 1_700_000_100).unwrap();
        assert_eq!(got, claims());
        // Uppercase fileSha and unpadded Base64 are accepted.
        verify(
            sig.trim_end_matches('='),
            keys,
            &SHA.to_uppercase(),
            1_700_000_100,
        )
        .unwrap();
    }

    #[test]
    fn optional_fields_round_trip() {
        let mut c = claims();
        c.transcode = true;
        c.snapshot = true;
        c.watermark = true;
        c.class_id = Some("7".into());
        c.tags = vec!["a b".into(), "ü".into()];
        c.file_name = "my film & more".into();
        let parsed = verify(&c.sign(b"secret-key"), keys, SHA, 1_700_000_000).unwrap();
        assert_eq!(parsed, c);
    }

    #[test]
    fn refuses_every_bad_signature() {
        let now = 1_700_000_100;
        let check =
            |c: &Claims, key: &[u8], sha: &str, now: u64| verify(&c.sign(key), keys, sha, now);
        assert_eq!(verify("", keys, SHA, now), Err(SignatureError::Undecodable));
        assert_eq!(
            verify("%%%", keys, SHA, now),
            Err(SignatureError::Undecodable)
        );
        assert_eq!(
            verify("c2hvcnQ=", keys, SHA, now),
            Err(SignatureError::Undecodable)
        );
        assert_eq!(
            check(&claims(), b"wrong", SHA, now),
            Err(SignatureError::BadHmac)
        );
        let mut c = claims();
        c.secret_id = "other".into();
        assert_eq!(
            check(&c, b"secret-key", SHA, now),
            Err(SignatureError::UnknownSecretId)
        );
        assert_eq!(
            check(&claims(), b"secret-key", &"0".repeat(40), now),
            Err(SignatureError::ShaMismatch)
        );
        assert_eq!(
            check(&claims(), b"secret-key", SHA, 1_700_086_400 + 1),
            Err(SignatureError::Expired)
        );
        check(&claims(), b"secret-key", SHA, 1_700_086_400).unwrap();
        assert_eq!(
            check(&claims(), b"secret-key", SHA, 1_700_000_000 - 301),
            Err(SignatureError::NotYetValid)
        );
        check(&claims(), b"secret-key", SHA, 1_700_000_000 - 299).unwrap();
        let mut c = claims();
        c.expires_at = c.issued_at + MAX_VALIDITY_SECS + 1;
        assert_eq!(
            check(&c, b"secret-key", SHA, now),
            Err(SignatureError::BadValidity)
        );
        c.expires_at = c.issued_at + MAX_VALIDITY_SECS;
        check(&c, b"secret-key", SHA, now).unwrap();
        c.expires_at = c.issued_at - 1;
        assert_eq!(
            check(&c, b"secret-key", SHA, now),
            Err(SignatureError::BadValidity)
        );
        for name in [
            "",
            "a/b",
            "a:b",
            "x*",
            "q?",
            "\"",
            "<",
            ">",
            "a\\b",
            &"n".repeat(41),
        ] {
            let mut c = claims();
            c.file_name = name.into();
            assert_eq!(
                check(&c, b"secret-key", SHA, now),
                Err(SignatureError::BadFileName),
                "{name}"
            );
        }
        let mut c = claims();
        c.file_name = "n".repeat(40);
        check(&c, b"secret-key", SHA, now).unwrap();
    }

    #[test]
    fn refuses_malformed_originals() {
        let now = 1_700_000_100;
        let signed =
            |original: &str| verify(&sign_original(b"secret-key", original), keys, SHA, now);
        let base = format!("s=AKIDtest&f=a&fs={SHA}&t=1700000000&e=1700000500");
        assert_eq!(signed(&base), Err(SignatureError::Missing("r")));
        assert_eq!(
            signed(&format!("{base}&r=12345678901")),
            Err(SignatureError::Malformed("r"))
        );
        assert_eq!(
            signed(&format!("{base}&r=-1")),
            Err(SignatureError::Malformed("r"))
        );
        assert_eq!(
            signed(&format!("s=AKIDtest&f=a&fs={SHA}&t=soon&e=1700000500&r=1")),
            Err(SignatureError::Malformed("t"))
        );
        let tags: String = (1..=11).map(|i| format!("&tag.{i}=x")).collect();
        assert_eq!(
            signed(&format!("{base}&r=1{tags}")),
            Err(SignatureError::Malformed("tag"))
        );
        signed(&format!("{base}&r=1")).unwrap();
    }
}
