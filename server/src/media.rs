//! `GET /media/{path}`: finished files, streamed from storage (disk or
//! bucket alike) with single `Range` requests and a `Content-Type` from the
//! extension. `HEAD` answers the same headers from the object's size alone:
//! the object is not opened (on S3, a HEAD, not a GET).

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::App;

pub async fn serve(
    State(app): State<Arc<App>>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let safe = !path.is_empty()
        && path
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    match respond(&app, &path, method == Method::HEAD, &headers).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "reading media failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

async fn respond(
    app: &App,
    path: &str,
    head: bool,
    headers: &HeaderMap,
) -> std::io::Result<Response> {
    let Some(size) = app.storage.media_size(path).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let asked = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, size));
    let range = match asked {
        Some(Err(Unsatisfiable)) => {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response())
        }
        Some(Ok(range)) => range,
        None => None,
    };
    // A GET's headers give the size of the object it streams.
    let (body, size) = if head {
        (Body::empty(), size)
    } else {
        match app.storage.open_media(path, range.clone()).await? {
            Some(object) => (Body::from_stream(object.body), object.size),
            None => return Ok(StatusCode::NOT_FOUND.into_response()),
        }
    };
    let content_type = mime_guess::from_path(path).first_or_octet_stream();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    let value = |text: String| HeaderValue::from_str(&text).expect("ASCII header");
    headers.insert(header::CONTENT_TYPE, value(content_type.to_string()));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // A published file never changes (its path carries a key of its own),
    // so browsers and CDNs may keep it.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    let length = match &range {
        Some(r) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_RANGE,
                value(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
            );
            r.end - r.start
        }
        None => size,
    };
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, value(length.to_string()));
    Ok(response)
}

#[derive(Debug, PartialEq)]
struct Unsatisfiable;

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range of an object of `size`
/// bytes. `Ok(None)`: serve the whole object (a header we do not handle,
/// such as several ranges, is ignored, as RFC 9110 allows).
fn parse_range(header: &str, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let number = |t: &str| t.trim().parse::<u64>().ok();
    let range = match (first.trim().is_empty(), number(first), number(last)) {
        (true, _, Some(suffix)) if suffix > 0 => size.saturating_sub(suffix)..size,
        (true, _, _) => return Err(Unsatisfiable),
        (false, Some(start), None) if last.trim().is_empty() => start..size,
        (false, Some(start), Some(end)) if end >= start => start..size.min(end + 1),
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-1000", 100), Ok(Some(0..100)));
        assert_eq!(parse_range("bytes=50-1000", 100), Ok(Some(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 100), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("bytes=9-1", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
        assert_eq!(parse_range("bytes=x-1", 100), Ok(None));
    }
}
