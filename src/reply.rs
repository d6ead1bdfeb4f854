//! What came back from one request, classified once, the same way for the
//! three calls, so that the retry rules live in one place (the engine).

use crate::json;
use crate::protocol::Answer;

/// The outcome of one request, as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A protocol answer (its code may still be a failure).
    Answer(Answer),
    /// An HTTP status with no usable answer: 5xx and 429 may pass, other
    /// statuses (a 404 page, a proxy's 403) will not.
    Http(u16),
    /// A 2xx whose body is not a protocol answer: `what` says what it was.
    NotUnderstood(String),
    /// The request never got an answer (refused, reset, DNS, CORS).
    Network(String),
    /// No answer within the time limit.
    Timeout,
}

impl Reply {
    /// Classifies an HTTP response. Statuses that signal a passing server
    /// failure win over the body; a 4xx carrying a protocol failure answer is
    /// taken as that answer.
    pub fn from_http(status: u16, content_type: &str, body: &[u8]) -> Reply {
        if status >= 500 || status == 429 {
            return Reply::Http(status);
        }
        match Answer::parse(body) {
            Some(answer) if (200..300).contains(&status) || answer.is_failure() => {
                Reply::Answer(answer)
            }
            _ if !(200..300).contains(&status) => Reply::Http(status),
            _ => Reply::NotUnderstood(describe_body(content_type, body)),
        }
    }

    /// True when sending the same request again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Reply::Answer(answer) => answer.is_failure() && answer.can_retry(),
            Reply::Http(status) => *status >= 500 || *status == 429,
            Reply::NotUnderstood(_) => false,
            Reply::Network(_) | Reply::Timeout => true,
        }
    }
}

/// A short description of a body that is not an answer, for messages.
fn describe_body(content_type: &str, body: &[u8]) -> String {
    if body.is_empty() {
        return "an empty body".to_owned();
    }
    let kind = match content_type.split(';').next().unwrap_or("").trim() {
        "" => "a body",
        kind => kind,
    };
    let head = &body[..body.len().min(60)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // Cut through a character at byte 60: the snippet ends before it.
        Err(cut) if cut.error_len().is_none() => {
            std::str::from_utf8(&head[..cut.valid_up_to()]).unwrap_or_default()
        }
        // (Without `from_utf8_lossy`, whose decoder is large in a wasm module.)
        Err(_) => return [kind, " that is not text"].concat(),
    };
    let snippet: String = text.chars().filter(|c| !c.is_control()).collect();
    [kind, " starting ", &json::quoted(snippet.trim())].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers_and_pages() {
        let ok = Reply::from_http(200, "application/json", br#"{"code":0}"#);
        assert_eq!(ok, Reply::Answer(Answer::ok()));
        assert!(!ok.is_transient());

        let retry = Reply::from_http(200, "application/json", br#"{"code":-10004,"canRetry":1}"#);
        assert!(retry.is_transient());
        let fatal = Reply::from_http(200, "application/json", br#"{"code":-10002,"canRetry":0}"#);
        assert!(!fatal.is_transient());

        assert_eq!(
            Reply::from_http(503, "application/json", br#"{"code":0}"#),
            Reply::Http(503)
        );
        assert_eq!(Reply::from_http(429, "", b""), Reply::Http(429));
        assert!(Reply::Http(502).is_transient());
        assert_eq!(
            Reply::from_http(404, "text/html", b"<h1>Not Found</h1>"),
            Reply::Http(404)
        );
        assert!(!Reply::Http(404).is_transient());
        assert!(matches!(
            Reply::from_http(400, "application/json", br#"{"code":-10003}"#),
            Reply::Answer(Answer { code: -10003, .. })
        ));

        let page = Reply::from_http(
            200,
            "text/html; charset=utf-8",
            b"<!doctype html>\n<title>Welcome</title>",
        );
        assert_eq!(
            page,
            Reply::NotUnderstood(
                "text/html starting \"<!doctype html><title>Welcome</title>\"".into()
            )
        );
        assert_eq!(
            Reply::from_http(204, "", b""),
            Reply::NotUnderstood("an empty body".into())
        );
        // A snippet cut through a character at byte 60 ends before it; a
        // body that is not UTF-8 is said to be so.
        let long = "é".repeat(40);
        assert_eq!(
            Reply::from_http(200, "text/plain", long.as_bytes()),
            Reply::NotUnderstood(["text/plain starting \"", &"é".repeat(30), "\""].concat())
        );
        let mut cut = vec![b'a'; 59];
        cut.extend_from_slice("é".as_bytes());
        assert_eq!(
            Reply::from_http(200, "", &cut),
            Reply::NotUnderstood(["a body starting \"", &"a".repeat(59), "\""].concat())
        );
        assert_eq!(
            Reply::from_http(200, "image/png", b"\x89PNG\r\n\x1a\n"),
            Reply::NotUnderstood("image/png that is not text".into())
        );
    }
}
