//! `--notify-url`: after a file is published, POST what the app's backend
//! needs to know about it, so it learns about new media without polling.
//!
//! Delivery never holds up the client's answer and never fails an upload:
//! each notification is its own background task, retried with exponential
//! backoff until the receiver answers 2xx or the attempts run out (then it
//! is logged and counted in `/metrics`).
//!
//! Delivery is at least once: a notification is in the storage's outbox
//! before its file is published (`Storage::finish`), leaves it once
//! delivered, and every start sends what the outbox holds (of files that
//! were published), so a notification whose server stopped, crashed or
//! gave up on it is sent again by the next start. With several instances
//! on one bucket, each start sends them all: a receiver may get one twice
//! (it can tell by `fileId`).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::storage::{outbox_key, Storage};

/// Attempts per notification, and the waits between them: 0.5 s, 1 s,
/// 2 s, ... capped at a minute (about 5 minutes in all).
const ATTEMPTS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait for one attempt's answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The body of a notification (JSON, camelCase).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub file_id: String,
    pub url: String,
    pub file_sha: String,
    pub file_size: u64,
    pub secret_id: String,
    /// The signature's `f`, with `.` and its `ft` when it had one.
    pub file_name: String,
}

#[derive(Clone)]
pub struct Notifier {
    client: reqwest::Client,
    url: reqwest::Url,
    metrics: Arc<Metrics>,
    storage: Storage,
}

impl Notifier {
    /// Fails on a URL that is not `http://` or `https://`.
    pub fn new(url: &str, metrics: Arc<Metrics>, storage: Storage) -> Result<Notifier, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("--notify-url {url:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--notify-url {url}: not an http(s) URL"));
        }
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| format!("--notify-url: {e}"))?;
        Ok(Notifier {
            client,
            url,
            metrics,
            storage,
        })
    }

    /// The body of `event`, as the outbox keeps it and the receiver gets it.
    pub fn body(event: &Published) -> Vec<u8> {
        serde_json::to_vec(event).expect("a notification serialises")
    }

    /// Starts delivering the notification of the file `file_id` (`body`,
    /// in the outbox) in the background and returns at once; once
    /// delivered, it leaves the outbox.
    pub fn send(&self, file_id: String, body: Vec<u8>) {
        let notifier = self.clone();
        tokio::spawn(async move {
            let delivered = deliver(&notifier.client, &notifier.url, body, &file_id).await;
            notifier.metrics.notification(delivered);
            if delivered {
                if let Err(e) = notifier.storage.remove_note(&outbox_key(&file_id)).await {
                    tracing::warn!(file_id, error = %e, "removing a delivered notification failed; it is sent again at the next start");
                }
            }
        });
    }

    /// Sends what the outbox holds, at start: each notification of a
    /// published file; one of a file not published (its finish failed or
    /// died before the commit) is removed.
    pub async fn send_outbox(&self) {
        let notes = match self.storage.outbox().await {
            Ok(notes) => notes,
            Err(e) => return tracing::warn!(error = %e, "reading the notification outbox failed"),
        };
        for (key, body) in notes {
            let event = serde_json::from_slice::<Published>(&body).ok();
            let published = match &event {
                Some(event) => self.storage.published(&event.secret_id, &event.file_sha).await,
                None => Ok(None),
            };
            match (event, published) {
                (Some(event), Ok(Some(record))) if record.file_id == event.file_id => {
                    tracing::info!(file_id = event.file_id, "sending a notification left in the outbox");
                    self.send(event.file_id, body.to_vec());
                }
                (_, Err(e)) => tracing::warn!(key, error = ?e, "checking a notification in the outbox failed"),
                _ => {
                    tracing::info!(key, "removing a notification of a file that was not published");
                    if let Err(e) = self.storage.remove_note(&key).await {
                        tracing::warn!(key, error = %e, "removing a void notification failed");
                    }
                }
            }
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: Vec<u8>,
    file_id: &str,
) -> bool {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let sent = client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await;
        let failure = match sent {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(file_id, attempt, "notification delivered");
                return true;
            }
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(e) => e.without_url().to_string(),
        };
        if attempt == ATTEMPTS {
            tracing::error!(
                file_id,
                "notification not delivered after {ATTEMPTS} attempts: {failure}"
            );
            break;
        }
        tracing::warn!(
            file_id,
            attempt,
            "notification failed ({failure}); retrying in {backoff:?}"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    false
}
