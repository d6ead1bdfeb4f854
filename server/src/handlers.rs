//! `/v2/index.php`: the three protocol calls. Handlers only read parameters,
//! check the signature, call [`Storage`](crate::storage::Storage) and turn
//! its outcome into an [`Answer`]; every protocol failure is HTTP 200 with a
//! negative `code`, as the original service answers.

// Failures are `Answer`s carried in `Err`; one per request, so their size
// does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use vod_ugc_upload::protocol::{
    code, is_md5_hex, is_sha1_hex, Action, Answer, ListedPart, PART_SIZES,
};
use vod_ugc_upload::signature::{verify, Claims};

use crate::app::{unix_now, App};
use crate::faults::Fault;
use crate::metrics::{self, Init};
use crate::notify::{Notifier, Published};
use crate::params::Params;
use crate::storage::{InitOutcome, MediaRecord, Note, StoreError};

/// How much of a refused body is still read (and thrown away) so that the
/// client receives the answer instead of a connection reset.
const DRAIN_LIMIT: usize = 4 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Part size when InitUploadUGC names none.
const DEFAULT_PART_SIZE: u64 = 1_048_576;

type Outcome = Result<Answer, Answer>;

pub async fn index_php(
    State(app): State<Arc<App>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let params = Params::parse(query.as_deref());
    let outcome = match action(&params, &method) {
        Err(answer) => Err(answer),
        Ok(Action::InitUploadUgc) => init(&app, &params).await,
        Ok(Action::FinishUploadUgc) => finish(&app, &params).await,
        Ok(Action::UploadPartUgc) => {
            let received = |chunk: &Result<Bytes, axum::Error>| {
                if let Ok(chunk) = chunk {
                    app.metrics.received(chunk.len());
                }
            };
            let mut body = body.into_data_stream().inspect(received);
            // Injected faults are not counted: they are not the server's.
            if let Some(fault) = app.faults.draw() {
                if fault != Fault::DroppedConnection {
                    drain(&mut body).await;
                }
                return fault.response();
            }
            let outcome = upload_part(&app, &params, &headers, &mut body).await;
            if outcome.is_err() {
                drain(&mut body).await;
            }
            app.metrics.part(started.elapsed());
            outcome
        }
    };
    let answer = outcome.unwrap_or_else(|failure| failure);
    if answer.code < 0 {
        let named = params.get("Action").and_then(Action::parse);
        app.metrics.failure(named, answer.code);
    }
    answer_response(&answer)
}

/// `GET /metrics`: Prometheus' text format.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    let content_type = HeaderValue::from_static(metrics::CONTENT_TYPE);
    ([(header::CONTENT_TYPE, content_type)], app.metrics.render()).into_response()
}

/// `GET /healthz`: the process is up and serving requests.
pub async fn healthz() -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], "{\"status\":\"ok\"}").into_response()
}

/// HTTP 200 with the answer as JSON.
pub fn answer_response(answer: &Answer) -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], answer.to_json()).into_response()
}

fn fail(code: i64, message: impl Into<String>) -> Answer {
    Answer::failure(code, message, false)
}

fn action(params: &Params, method: &Method) -> Result<Action, Answer> {
    const EXPECTED: &str = "expected InitUploadUGC, UploadPartUGC or FinishUploadUGC";
    let name = params
        .get("Action")
        .ok_or_else(|| fail(code::COMMON_PARAMS, format!("missing Action; {EXPECTED}")))?;
    let action = Action::parse(name)
        .ok_or_else(|| fail(code::COMMON_PARAMS, format!("unknown Action; {EXPECTED}")))?;
    let expected = if action == Action::UploadPartUgc {
        Method::POST
    } else {
        Method::GET
    };
    if *method != expected {
        return Err(fail(
            code::COMMON_PARAMS,
            format!(
                "{} must be sent with {expected}, not {method}",
                action.as_str()
            ),
        ));
    }
    Ok(action)
}

/// The request's `fileSha` (lowercased) and the verified signature claims.
fn authorize(app: &App, params: &Params) -> Result<(String, Claims), Answer> {
    let signature = params
        .get("signature")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| fail(code::SIGNATURE, "missing signature"))?;
    let sha = params
        .get("fileSha")
        .ok_or_else(|| fail(code::PROTOCOL_PARAMS, "missing fileSha"))?
        .to_ascii_lowercase();
    if !is_sha1_hex(&sha) {
        return Err(fail(
            code::PROTOCOL_PARAMS,
            "fileSha must be the file's SHA-1: 40 hex digits",
        ));
    }
    let claims = verify(signature, |id| app.key_for(id), &sha, unix_now())
        .map_err(|e| fail(code::SIGNATURE, e.to_string()))?;
    Ok((sha, claims))
}

/// A decimal parameter; `Ok(None)` when absent.
fn number(params: &Params, name: &str) -> Result<Option<u64>, Answer> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(value) if digits => Ok(Some(value)),
        _ => Err(fail(
            code::PROTOCOL_PARAMS,
            format!("{name} must be a non-negative decimal integer below 2^64"),
        )),
    }
}

fn required(params: &Params, name: &str) -> Result<u64, Answer> {
    number(params, name)?.ok_or_else(|| fail(code::PROTOCOL_PARAMS, format!("missing {name}")))
}

async fn init(app: &App, params: &Params) -> Outcome {
    let (sha, claims) = authorize(app, params)?;
    let file_size = required(params, "fileSize")?;
    if file_size > app.max_file_size {
        return Err(fail(
            code::PROTOCOL_PARAMS,
            format!(
                "fileSize {file_size} is over this server's limit of {} bytes",
                app.max_file_size
            ),
        ));
    }
    let part_size = number(params, "dataSize")?.unwrap_or(DEFAULT_PART_SIZE);
    if !PART_SIZES.contains(&part_size) {
        return Err(fail(
            code::PROTOCOL_PARAMS,
            format!("dataSize must be one of {PART_SIZES:?}"),
        ));
    }
    match app
        .storage
        .init(&claims.secret_id, &sha, file_size, part_size)
        .await
    {
        Ok(InitOutcome::Fresh) => {
            app.metrics.init(Init::Started);
            Ok(Answer::ok())
        }
        Ok(InitOutcome::Resume { part_size, parts }) => {
            app.metrics.init(Init::Resumed);
            Ok(Answer {
            code: code::RESUME,
            data_size: Some(part_size),
            list_parts: Some(
                parts
                    .into_iter()
                    .map(|p| ListedPart {
                        offset: p.offset,
                        data_size: p.len,
                        data_md5: Some(p.md5),
                    })
                    .collect(),
            ),
            ..Answer::default()
            })
        }
        Ok(InitOutcome::Done(record)) => {
            app.metrics.init(Init::Instant);
            Ok(Answer {
                code: code::INSTANT,
                ..media_answer(app, &record)
            })
        }
        Err(e) => Err(store_failure(e)),
    }
}

async fn upload_part(
    app: &App,
    params: &Params,
    headers: &HeaderMap,
    body: &mut (impl Stream<Item = Result<Bytes, axum::Error>> + Unpin),
) -> Outcome {
    let (sha, claims) = authorize(app, params)?;
    let offset = required(params, "offset")?;
    let len = required(params, "dataSize")?;
    let md5 = params
        .get("dataMd5")
        .ok_or_else(|| fail(code::PROTOCOL_PARAMS, "missing dataMd5"))?
        .to_ascii_lowercase();
    if !is_md5_hex(&md5) {
        return Err(fail(
            code::PROTOCOL_PARAMS,
            "dataMd5 must be the part's MD5: 32 hex digits",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    app.storage
        .put_part(&claims.secret_id, &sha, (offset, len), &md5, declared, body)
        .await
        .map_err(store_failure)?;
    Ok(Answer::ok())
}

async fn finish(app: &App, params: &Params) -> Outcome {
    let (sha, claims) = authorize(app, params)?;
    let ext = claims.file_type.as_deref().and_then(media_extension);
    // The notification of the file, should this finish publish it: in the
    // outbox before it is published (see notify.rs).
    let note = |record: &MediaRecord| {
        let file_name = match &claims.file_type {
            Some(ft) => format!("{}.{ft}", claims.file_name),
            None => claims.file_name.clone(),
        };
        Notifier::body(&Published {
            file_id: record.file_id.clone(),
            url: app.media_url(record),
            file_sha: sha.clone(),
            file_size: record.size,
            secret_id: claims.secret_id.clone(),
            file_name,
        })
    };
    let finished = app
        .storage
        .finish(&claims.secret_id, &sha, ext, app.notifier.as_ref().map(|_| &note as Note))
        .await
        .map_err(store_failure)?;
    let answer = media_answer(app, &finished.record);
    app.metrics.assembled(finished.assembled);
    if finished.newly_published {
        // Once per file, on whichever instance won the publish.
        tracing::info!(file_id = %finished.record.file_id, "published");
        app.metrics.finished();
        if let Some(notifier) = &app.notifier {
            notifier.send(finished.record.file_id.clone(), note(&finished.record));
        }
    }
    Ok(answer)
}

fn media_answer(app: &App, record: &MediaRecord) -> Answer {
    Answer {
        file_id: Some(record.file_id.clone()),
        url: Some(app.media_url(record)),
        ..Answer::ok()
    }
}

/// The signature's `ft` as a file extension, if it is a plausible one:
/// it becomes part of a path and a URL.
fn media_extension(ft: &str) -> Option<String> {
    let ext = ft.trim_start_matches('.').to_ascii_lowercase();
    let plausible = (1..=10).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
    plausible.then_some(ext)
}

fn store_failure(error: StoreError) -> Answer {
    match error {
        StoreError::Protocol(message) => fail(code::PROTOCOL_PARAMS, message),
        StoreError::NoUpload => fail(
            code::READ_STATE,
            "no upload of this fileSha was initialised with this SecretId; call InitUploadUGC first",
        ),
        StoreError::Incomplete(message) => fail(code::READ_STATE, message),
        StoreError::Body { message, can_retry } => Answer::failure(code::BODY, message, can_retry),
        StoreError::ShaMismatch(message) => fail(code::BODY, message),
        // The error's own text may name server paths or the bucket's URL:
        // it goes to the log; the answer says only what kind of failure.
        StoreError::Write(e) => {
            tracing::warn!(error = %e, "writing upload state failed");
            Answer::failure(code::WRITE_STATE, format!("failed to write upload state ({})", e.kind()), true)
        }
        StoreError::Read(e) => {
            tracing::warn!(error = %e, "reading upload state failed");
            Answer::failure(code::READ_STATE, format!("failed to read upload state ({})", e.kind()), true)
        }
    }
}

/// Reads and discards what is left of a refused body, within bounds.
async fn drain<E>(body: &mut (impl Stream<Item = Result<Bytes, E>> + Unpin)) {
    let discard = async {
        let mut seen = 0;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len();
            if seen > DRAIN_LIMIT {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(media_extension("MP4").as_deref(), Some("mp4"));
        assert_eq!(media_extension(".webm").as_deref(), Some("webm"));
        assert_eq!(media_extension(""), None);
        assert_eq!(media_extension("../x"), None);
        assert_eq!(media_extension("averyverylongext"), None);
    }

    #[test]
    fn numbers_are_strict() {
        let p = Params::parse(Some("a=12&b=-1&c=99999999999999999999999&d=&e=1e3&f=+1"));
        assert_eq!(number(&p, "a").unwrap(), Some(12));
        assert_eq!(number(&p, "missing").unwrap(), None);
        for name in ["b", "c", "d", "e", "f"] {
            assert_eq!(
                number(&p, name).unwrap_err().code,
                code::PROTOCOL_PARAMS,
                "{name}"
            );
        }
    }

    #[test]
    fn actions_need_their_method() {
        let p = Params::parse(Some("Action=UploadPartUGC"));
        assert_eq!(action(&p, &Method::POST).unwrap(), Action::UploadPartUgc);
        assert_eq!(
            action(&p, &Method::GET).unwrap_err().code,
            code::COMMON_PARAMS
        );
        let p = Params::parse(Some("Action=FinishUploadUGC"));
        assert_eq!(action(&p, &Method::GET).unwrap(), Action::FinishUploadUgc);
        assert_eq!(
            action(&p, &Method::POST).unwrap_err().code,
            code::COMMON_PARAMS
        );
        assert_eq!(
            action(&Params::parse(None), &Method::GET).unwrap_err().code,
            code::COMMON_PARAMS
        );
    }
}
