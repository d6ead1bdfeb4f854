//! `--dev-signer`: `GET /signature?f=&ft=&fs=&uid=` signs like an app's
//! backend would, with the first configured key pair, so the demo page and
//! by-hand tests need no backend of their own. Off by default: anyone who
//! can reach it can upload.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use vod_ugc_upload::protocol::is_sha1_hex;
use vod_ugc_upload::signature::{Claims, FORBIDDEN_NAME_CHARS, MAX_FILE_NAME_BYTES};

use crate::app::App;
use crate::params::Params;

/// How long a dev signature stays valid: one day.
const VALIDITY_SECS: u64 = 86_400;

pub async fn signature(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.as_deref());
    let sha = params.get("fs").unwrap_or_default().to_ascii_lowercase();
    if !is_sha1_hex(&sha) {
        let error = "fs must be the file's SHA-1: 40 hex digits";
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
    }
    let now = crate::app::unix_now();
    let (secret_id, secret_key) = app.signer_key();
    let claims = Claims {
        secret_id: secret_id.to_owned(),
        file_name: sanitize_file_name(params.get("f").unwrap_or_default()),
        file_sha: sha,
        issued_at: now,
        expires_at: now + VALIDITY_SECS,
        rand: crate::ids::below(10_000_000_000),
        uid: params.get("uid").unwrap_or_default().to_owned(),
        file_type: params
            .get("ft")
            .filter(|ft| !ft.is_empty())
            .map(str::to_owned),
        ..Claims::default()
    };
    Json(json!({ "signature": claims.sign(secret_key) })).into_response()
}

/// Makes any name a valid `f`: forbidden characters become `_`, the result
/// is cut to 40 bytes on a character boundary, and nothing becomes "file".
pub fn sanitize_file_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if FORBIDDEN_NAME_CHARS.contains(&c) {
            '_'
        } else {
            c
        };
        if out.len() + c.len_utf8() > MAX_FILE_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push_str("file");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vod_ugc_upload::signature::check_file_name;

    #[test]
    fn sanitized_names_are_valid() {
        assert_eq!(
            sanitize_file_name(r#"a\b/c:d*e?f"g<h>i"#),
            "a_b_c_d_e_f_g_h_i"
        );
        assert_eq!(sanitize_file_name(""), "file");
        assert_eq!(sanitize_file_name(&"x".repeat(50)), "x".repeat(40));
        // 13 three-byte characters are 39 bytes; a 14th would make 42.
        assert_eq!(sanitize_file_name(&"日".repeat(20)), "日".repeat(13));
        for name in [
            "",
            "ok",
            "日本語の長い名前日本語の長い名前",
            "a/b",
            &"é".repeat(30),
        ] {
            check_file_name(&sanitize_file_name(name)).unwrap();
        }
    }
}
