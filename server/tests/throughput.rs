//! A benchmark, not a test (ignored by default): MiB/s of part bodies
//! received on loopback from 4 clients at once, on the disk backend and on
//! moto's S3 API, by the release binary. Run it with
//!
//! ```sh
//! cargo build --release -p vod-ugc-server
//! cargo test -p vod-ugc-server --test throughput -- --ignored --nocapture
//! ```
//!
//! `VOD_UGC_SERVER` names another binary.

mod common;

use std::path::PathBuf;
use std::time::Instant;

use common::*;

const CLIENTS: usize = 4;
/// Each client uploads a file of this many 1 MiB parts.
const PARTS: usize = 48;

fn binary() -> PathBuf {
    std::env::var_os("VOD_UGC_SERVER").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/vod-ugc-server")
    })
}

async fn start(storage: &[String], env: Vec<(&'static str, String)>) -> BinaryServer {
    let mut command = tokio::process::Command::new(binary());
    command.args(storage).envs(env).stderr(std::process::Stdio::null());
    BinaryServer::spawn(command, &[]).await
}

/// (MiB/s of parts received, seconds for the 4 finishes).
async fn measure(server: &BinaryServer) -> (f64, f64) {
    let api = server.api();
    let files: Vec<TestFile> = (0..CLIENTS).map(|c| TestFile::new(PARTS * MIB, 900 + c as u64, APP_A)).collect();
    for file in &files {
        assert_eq!(api.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    }
    let started = Instant::now();
    let clients = files.iter().map(|file| {
        let api = Api::new(&server.base);
        async move {
            for (offset, len) in file.parts(MIB) {
                let answer = api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await;
                assert_eq!(answer.code, 0, "{answer:?}");
            }
        }
    });
    futures_util::future::join_all(clients).await;
    let receiving = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let finishes = files.iter().map(|file| api.finish(&file.sha, &file.sig));
    for done in futures_util::future::join_all(finishes).await {
        assert_eq!(done.code, 0, "{done:?}");
    }
    ((CLIENTS * PARTS) as f64 / receiving, started.elapsed().as_secs_f64())
}

#[tokio::test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
async fn mib_per_second_received_disk_and_moto() {
    assert!(binary().exists(), "{} is missing: cargo build --release -p vod-ugc-server", binary().display());
    let data = tempfile::tempdir().unwrap();
    let disk = start(&["--data".into(), data.path().display().to_string()], Vec::new()).await;
    let (disk_rate, disk_finish) = measure(&disk).await;
    drop(disk);

    let bucket = moto().new_bucket().await;
    let s3 = start(&["--storage".into(), format!("s3://{bucket}/ugc")], moto().env()).await;
    let (s3_rate, s3_finish) = measure(&s3).await;

    let total = CLIENTS * PARTS;
    println!("{CLIENTS} clients, {total} MiB in 1 MiB parts over loopback:");
    println!("  disk backend: {disk_rate:.0} MiB/s received; 4 finishes of {PARTS} MiB in {disk_finish:.2} s");
    println!("  S3 (moto):    {s3_rate:.0} MiB/s received; 4 finishes of {PARTS} MiB in {s3_finish:.2} s");
}
