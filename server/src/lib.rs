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
mod params;
mod rng;
pub mod serve;
mod signer;
mod storage;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::Config;

/// A server bound to its address, ready to run.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    limits: serve::Limits,
}

impl Server {
    /// Binds `config.listen` and opens the data folder.
    pub async fn bind(config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(&config.listen).await?;
        Server::from_listener(config, listener)
    }

    /// Uses a listener the caller bound.
    pub fn from_listener(config: Config, listener: TcpListener) -> io::Result<Server> {
        let keys = config
            .key_pairs()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let addr = listener.local_addr()?;
        let base_url = match &config.public_url {
            Some(url) => url.clone(),
            None => format!("http://{addr}"),
        };
        let storage = storage::Storage::open(&config.data).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open data folder {}: {e}", config.data.display()),
            )
        })?;
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
            router: app::router(app, &config),
            listener,
            limits: limits.fitted_to_open_file_limit(),
        })
    }

    /// The address actually bound (the real port when `--listen` said 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets requests in flight end.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
        serve::serve(self.listener, self.router, self.limits, shutdown).await
    }
}
