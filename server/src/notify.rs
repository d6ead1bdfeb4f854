//! `--notify-url`: after a file is published, POST what the app's backend
//! needs to know about it, so it learns about new media without polling.
//!
//! Delivery never holds up the client's answer and never fails an upload:
//! each notification is its own background task, retried with exponential
//! backoff until the receiver answers 2xx or the attempts run out (then it
//! is logged and counted in `/metrics`). Notifications still waiting when
//! the process exits are lost: the receiver can reconcile with the files
//! it is told about later, or with instant upload's answer.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::Metrics;

/// Attempts per notification, and the waits between them: 0.5 s, 1 s,
/// 2 s, ... capped at a minute (about 5 minutes in all).
const ATTEMPTS: u32 = 10;
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Longest wait for one attempt's answer.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The body of a notification (JSON, camelCase).
#[derive(Clone, Debug, Serialize)]
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

pub struct Notifier {
    client: reqwest::Client,
    url: reqwest::Url,
    metrics: Arc<Metrics>,
}

impl Notifier {
    /// Fails on a URL that is not `http://` or `https://`.
    pub fn new(url: &str, metrics: Arc<Metrics>) -> Result<Notifier, String> {
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
        })
    }

    /// Starts delivering `event` in the background and returns at once.
    pub fn send(&self, event: Published) {
        let body = serde_json::to_vec(&event).expect("a notification serialises");
        let (client, url, metrics) = (self.client.clone(), self.url.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let delivered = deliver(&client, &url, body, &event.file_id).await;
            metrics.notification(delivered);
        });
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
