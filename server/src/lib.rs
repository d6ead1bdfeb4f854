//! `vod-ugc-server`: a protocol-faithful server for the VOD UGC upload
//! (InitUploadUGC → UploadPartUGC → FinishUploadUGC), for development,
//! tests, demos and self-hosting. The protocol itself (answers, codes,
//! signatures, part plans) comes from the `vod-ugc-upload` core; this crate
//! adds HTTP, storage and the development helpers.
//!
//! The binary is a thin wrapper around [`Server`]; tests start the same
//! server in-process on an ephemeral port.

mod app;
pub mod config;
mod faults;
mod handlers;
mod ids;
mod metrics;
mod notify;
mod media;
mod params;
mod rng;
pub mod serve;
mod signer;
mod storage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::Config;

/// A server bound to its address, ready to run.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    limits: serve::Limits,
    app: Arc<app::App>,
    expire_unfinished_after: Duration,
}

impl Server {
    /// Binds `config.listen` and opens the storage.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.listen).await?;
        Server::from_listener(config, listener).await
    }

    /// Uses a listener the caller bound.
    pub async fn from_listener(config: Config, listener: TcpListener) -> io::Result<Server> {
        let keys = config
            .key_pairs()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let addr = listener.local_addr()?;
        let base_url = match &config.public_url {
            Some(url) => url.clone(),
            None => format!("http://{addr}"),
        };
        let storage = open_storage(&config).await?;
        let app = app::App::new(storage, &config, keys, &base_url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let app = Arc::new(app);
        let limits = serve::Limits {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            body_stall_timeout: config.body_stall_timeout,
            max_connections: config.max_connections,
        };
        Ok(Server {
            router: app::router(app.clone(), &config),
            app,
            listener,
            limits: limits.fitted_to_open_file_limit(),
            expire_unfinished_after: config.expire_unfinished_after,
        })
    }

    /// The address actually bound (the real port when `--listen` said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets requests in flight end.
    /// Unfinished uploads are expired in the background meanwhile, and
    /// notifications left in the outbox are sent.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        let expiry = tokio::spawn(expire_unfinished(
            self.app.clone(),
            self.expire_unfinished_after,
        ));
        if let Some(notifier) = self.app.notifier.clone() {
            tokio::spawn(async move { notifier.send_outbox().await });
        }
        let served = serve::serve(self.listener, self.router, self.limits, shutdown).await;
        expiry.abort();
        served
    }
}

async fn open_storage(config: &Config) -> io::Result<storage::Storage> {
    let (location, what) = match (&config.storage, &config.data) {
        (Some(url), _) => (storage::Location::S3(url), format!("storage {url}")),
        (None, Some(dir)) => (
            storage::Location::Disk(dir),
            format!("data folder {}", dir.display()),
        ),
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--data DIR or --storage s3://BUCKET/PREFIX is needed",
            ))
        }
    };
    storage::Storage::open(location)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {what}: {e}")))
}

/// Runs the expiry of unfinished uploads at start and then periodically,
/// often enough that an upload is deleted soon after it expires.
async fn expire_unfinished(app: Arc<app::App>, max_idle: Duration) {
    let period = (max_idle / 8).clamp(Duration::from_secs(1), Duration::from_secs(3_600));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match app.storage.expire_unfinished(max_idle).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "deleted unfinished uploads"),
            Err(e) => tracing::warn!(error = %e, "expiring unfinished uploads failed"),
        }
    }
}
