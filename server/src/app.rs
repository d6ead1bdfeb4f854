//! The shared state of a running server and its router: routes, CORS and
//! request logging.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use axum::routing::{any, get};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;
use tracing::Level;
use vod_ugc_upload::protocol::Action;

use crate::config::Config;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::storage::{MediaRecord, Storage};
use crate::{handlers, media, signer};

/// What every request handler shares.
pub struct App {
    pub storage: Storage,
    pub faults: Faults,
    /// (SecretId, SecretKey) in command-line order; the first signs for
    /// the dev signer.
    keys: Vec<(String, Vec<u8>)>,
    /// Base of media URLs, without a trailing slash.
    base_url: String,
    /// `--max-file-size`: larger files are refused at InitUploadUGC.
    pub max_file_size: u64,
    pub metrics: Arc<Metrics>,
    /// `--notify-url`, when given.
    pub notifier: Option<Notifier>,
}

impl App {
    /// Fails when `--notify-url` is not an http(s) URL.
    pub fn new(
        storage: Storage,
        config: &Config,
        keys: Vec<(String, String)>,
        base_url: &str,
    ) -> Result<App, String> {
        let metrics = Arc::new(Metrics::default());
        let notifier = match &config.notify_url {
            Some(url) => Some(Notifier::new(url, metrics.clone(), storage.clone())?),
            None => None,
        };
        Ok(App {
            metrics,
            notifier,
            storage,
            faults: Faults::new(config.fault_rate, config.fault_seed),
            max_file_size: config.max_file_size,
            keys: keys
                .into_iter()
                .map(|(id, key)| (id, key.into_bytes()))
                .collect(),
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    pub fn key_for(&self, secret_id: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(id, _)| id == secret_id)
            .map(|(_, key)| key.as_slice())
    }

    pub fn signer_key(&self) -> (&str, &[u8]) {
        let (id, key) = &self.keys[0];
        (id, key)
    }

    /// `{base}/media/{path}`, the address the router serves it at.
    pub fn media_url(&self, record: &MediaRecord) -> String {
        format!("{}/media/{}", self.base_url, record.media_path())
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn router(app: Arc<App>, config: &Config) -> Router {
    let mut router = Router::new()
        .route("/v2/index.php", any(handlers::index_php))
        .route("/metrics", get(handlers::metrics))
        .route("/healthz", get(handlers::healthz))
        .route("/media/{*path}", get(media::serve));
    if config.dev_signer {
        router = router.route("/signature", get(signer::signature));
    }
    if let Some(pkg) = &config.pkg {
        router = router.nest_service("/pkg", ServeDir::new(pkg));
    }
    if let Some(www) = &config.www {
        router = router.fallback_service(ServeDir::new(www));
    }
    // Uploads come from web pages of any origin, whose part bodies
    // (application/octet-stream) always need a preflight.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(Duration::from_secs(86_400));
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(LatencyUnit::Millis),
        );
    router.with_state(app).layer(cors).layer(trace)
}

/// The log span of a request: method, path and a known Action only. The
/// query string is never logged, because it carries the signature.
fn request_span(request: &Request<Body>) -> tracing::Span {
    let action = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(name, _)| name == "Action"))
        .map_or("-", |(_, value)| {
            Action::parse(&value).map_or("other", Action::as_str)
        });
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), action)
}
