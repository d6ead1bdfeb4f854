//! The tunable options of an upload, their defaults and their allowed ranges.
//! Out-of-range values are refused (bad input) rather than clamped, so that a
//! typo in an app shows up at once instead of as a slow or odd upload.

use crate::error::UploadError;
use crate::json;
use crate::protocol::{DEFAULT_ENDPOINT, PART_SIZES};

/// Every option name `upload()` accepts; anything else is refused as a typo.
pub const OPTION_NAMES: [&str; 10] = [
    "getSignature",
    "endpoint",
    "partSize",
    "concurrency",
    "retries",
    "retryDelayMs",
    "timeoutMs",
    "cache",
    "signal",
    "onProgress",
];

/// Allowed ranges of the numeric options.
pub const CONCURRENCY_RANGE: (u64, u64) = (1, 16);
pub const RETRIES_RANGE: (u64, u64) = (0, 20);
pub const RETRY_DELAY_RANGE: (u64, u64) = (0, 60_000);
pub const TIMEOUT_RANGE: (u64, u64) = (100, 3_600_000);

/// Longest delay between two tries, whatever the backoff reaches.
pub const MAX_RETRY_DELAY_MS: u64 = 30_000;

/// The options of one upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub endpoint: String,
    /// Part size asked for in InitUploadUGC (the server may fix another on resume).
    pub part_size: u64,
    /// Parts in flight at once.
    pub concurrency: u64,
    /// Extra tries per request.
    pub retries: u64,
    /// Backoff base: try `n` waits a random time below `retry_delay_ms * 2^(n-1)`.
    pub retry_delay_ms: u64,
    /// Time limit of each request.
    pub timeout_ms: u64,
    /// Remember the file's hashes so that a later upload of it skips
    /// hashing (see [`crate::cache`]).
    pub cache: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            endpoint: DEFAULT_ENDPOINT.to_owned(),
            part_size: PART_SIZES[1],
            concurrency: 4,
            retries: 5,
            retry_delay_ms: 500,
            timeout_ms: 60_000,
            cache: true,
        }
    }
}

/// A JavaScript number as a person would write it, for messages (without
/// `f64`'s `Display`, whose code is large in a wasm module).
pub fn number_text(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    let magnitude = value.abs();
    if magnitude.is_infinite() {
        out.push_str("Infinity");
    } else if magnitude >= 1e18 {
        out.push_str("a huge number");
    } else {
        let whole = magnitude.trunc();
        crate::json::push_unsigned(&mut out, whole as u64);
        // Up to six decimals, rounded, trailing zeros dropped.
        let mut fraction = ((magnitude - whole) * 1e6).round() as u64;
        if fraction > 0 && fraction < 1_000_000 {
            out.push('.');
            let mut digits = [b'0'; 6];
            for digit in digits.iter_mut().rev() {
                *digit = b'0' + (fraction % 10) as u8;
                fraction /= 10;
            }
            let used = digits
                .iter()
                .rposition(|&d| d != b'0')
                .map_or(0, |at| at + 1);
            out.extend(digits[..used].iter().map(|&d| d as char));
        }
    }
    out
}

/// Checks an integer option given as a JavaScript number.
pub fn integer_option(name: &str, value: f64, (min, max): (u64, u64)) -> Result<u64, UploadError> {
    if value.fract() != 0.0 || value < min as f64 || value > max as f64 {
        return Err(UploadError::bad_input(
            [
                "option ",
                name,
                " must be an integer from ",
                &json::uint_text(min),
                " to ",
                &json::uint_text(max),
                ", not ",
                &number_text(value),
            ]
            .concat(),
        ));
    }
    Ok(value as u64)
}

impl Options {
    /// Sets a numeric option by its JavaScript name, checking its range.
    pub fn set_number(&mut self, name: &str, value: f64) -> Result<(), UploadError> {
        match name {
            "partSize" => {
                if !PART_SIZES.iter().any(|&size| size as f64 == value) {
                    return Err(UploadError::bad_input(
                        [
                            "option partSize must be ",
                            &json::uint_text(PART_SIZES[0]),
                            " or ",
                            &json::uint_text(PART_SIZES[1]),
                            ", not ",
                            &number_text(value),
                        ]
                        .concat(),
                    ));
                }
                self.part_size = value as u64;
            }
            "concurrency" => self.concurrency = integer_option(name, value, CONCURRENCY_RANGE)?,
            "retries" => self.retries = integer_option(name, value, RETRIES_RANGE)?,
            "retryDelayMs" => self.retry_delay_ms = integer_option(name, value, RETRY_DELAY_RANGE)?,
            "timeoutMs" => self.timeout_ms = integer_option(name, value, TIMEOUT_RANGE)?,
            _ => {
                return Err(UploadError::bad_input(
                    ["option ", name, " is not a number option"].concat(),
                ))
            }
        }
        Ok(())
    }

    /// Sets the endpoint; it must be an absolute http(s) URL (the browser
    /// adapter resolves a relative one first, as `fetch` would).
    pub fn set_endpoint(&mut self, endpoint: &str) -> Result<(), UploadError> {
        let lower = endpoint.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || endpoint.len() < 9 {
            return Err(UploadError::bad_input(
                [
                    "option endpoint must be an http:// or https:// URL, not ",
                    &json::quoted(endpoint),
                ]
                .concat(),
            ));
        }
        self.endpoint = endpoint.to_owned();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::client_code::BAD_INPUT;

    #[test]
    fn defaults_follow_the_contract() {
        let o = Options::default();
        assert_eq!(o.endpoint, "https://vod2.qcloud.com/v2/index.php");
        assert_eq!((o.part_size, o.concurrency, o.retries), (1_048_576, 4, 5));
        assert_eq!((o.retry_delay_ms, o.timeout_ms), (500, 60_000));
        assert!(o.cache);
    }

    #[test]
    fn numbers_are_checked() {
        let mut o = Options::default();
        o.set_number("partSize", 524_288.0).unwrap();
        o.set_number("concurrency", 8.0).unwrap();
        o.set_number("retries", 0.0).unwrap();
        o.set_number("timeoutMs", 1000.0).unwrap();
        assert_eq!(
            (o.part_size, o.concurrency, o.retries, o.timeout_ms),
            (524_288, 8, 0, 1000)
        );
        for (name, value) in [
            ("partSize", 1000.0),
            ("concurrency", 0.0),
            ("concurrency", 2.5),
            ("concurrency", f64::NAN),
            ("retries", -1.0),
            ("timeoutMs", f64::INFINITY),
            ("retryDelayMs", 1e9),
        ] {
            let e = o.set_number(name, value).unwrap_err();
            assert_eq!(e.code, BAD_INPUT);
            assert!(e.message.contains(name), "{}", e.message);
        }
    }

    #[test]
    fn numbers_in_messages() {
        for (value, text) in [
            (0.0, "0"),
            (524_288.0, "524288"),
            (-1.0, "-1"),
            (2.5, "2.5"),
            (0.125, "0.125"),
            (1.0 / 3.0, "0.333333"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e9, "1000000000"),
        ] {
            assert_eq!(number_text(value), text);
        }
    }

    #[test]
    fn endpoint_must_be_http() {
        let mut o = Options::default();
        o.set_endpoint("http://127.0.0.1:8080/v2/index.php")
            .unwrap();
        assert!(o.set_endpoint("ftp://x").is_err());
        assert!(o.set_endpoint("").is_err());
    }
}
