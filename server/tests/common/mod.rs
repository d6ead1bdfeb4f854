//! Helpers shared by the integration tests: a server on an ephemeral port
//! with a temporary data folder, signatures, and a small protocol client.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Stdio;

use clap::Parser;
use md5::{Digest, Md5};
use sha1::Sha1;
use tokio::io::{AsyncBufReadExt, BufReader};
use vod_ugc_server::{Config, Server};
use vod_ugc_upload::protocol::{to_hex, Answer};
use vod_ugc_upload::signature::Claims;

pub const MIB: usize = 1_048_576;
pub const HALF: usize = 524_288;

/// Two apps served by one server.
pub const APP_A: (&str, &str) = ("AKIDappA", "secret-key-a");
pub const APP_B: (&str, &str) = ("AKIDappB", "secret-key-b");

pub fn key_args() -> Vec<String> {
    [APP_A, APP_B]
        .iter()
        .flat_map(|(id, key)| ["--secret-id", id, "--secret-key", key])
        .map(str::to_owned)
        .collect()
}

/// Where a test server keeps its uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// A temporary `--data` folder.
    Disk,
    /// A fresh bucket of the test binary's moto_server (`--storage s3://...`).
    S3,
}

/// A server running until dropped: in this process on a temporary data
/// folder, or (S3) the real binary on a fresh bucket.
pub struct TestServer {
    pub base: String,
    /// The data folder (empty for S3).
    pub data: PathBuf,
    /// The bucket (S3 only).
    pub bucket: Option<String>,
    _dir: Option<tempfile::TempDir>,
    _child: Option<BinaryServer>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start_on(store: Store, extra: &[&str]) -> TestServer {
        match store {
            Store::Disk => TestServer::start(extra).await,
            Store::S3 => {
                let bucket = moto().new_bucket().await;
                let child = BinaryServer::start_s3(&bucket, extra).await;
                TestServer {
                    base: child.base.clone(),
                    data: PathBuf::new(),
                    bucket: Some(bucket),
                    _dir: None,
                    _child: Some(child),
                    stop: None,
                }
            }
        }
    }

    /// The keys stored below `prefix` (`media/`, `apps/`...), sorted.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = match &self.bucket {
            Some(bucket) => moto().keys(bucket, prefix).await,
            None => {
                let mut keys = Vec::new();
                walk(&self.data, &self.data.join(prefix), &mut keys);
                keys
            }
        };
        keys.sort();
        keys
    }

    pub async fn start(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(dir.path(), extra).await;
        server._dir = Some(dir);
        server
    }

    pub async fn start_in(data: &Path, extra: &[&str]) -> TestServer {
        let mut args: Vec<String> = vec!["vod-ugc-server".into(), "--listen".into(), "127.0.0.1:0".into()];
        args.extend(["--data".into(), data.display().to_string()]);
        args.extend(key_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let server = Server::bind(Config::parse_from(args)).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer { base, data: data.to_owned(), bucket: None, _dir: None, _child: None, stop: Some(stop) }
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The real binary, started with `--listen 127.0.0.1:0`.
pub struct BinaryServer {
    pub child: tokio::process::Child,
    pub base: String,
}

impl BinaryServer {
    pub async fn start(data: &Path, extra: &[&str]) -> BinaryServer {
        BinaryServer::start_logging_to(data, extra, Stdio::null()).await
    }

    /// Started with its stderr (the log) going to `log`.
    pub async fn start_logging_to(data: &Path, extra: &[&str], log: impl Into<Stdio>) -> BinaryServer {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"));
        command.arg("--data").arg(data).stderr(log);
        BinaryServer::spawn(command, extra).await
    }

    /// On `bucket` of the test binary's moto_server.
    pub async fn start_s3(bucket: &str, extra: &[&str]) -> BinaryServer {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"));
        command.args(["--storage", &format!("s3://{bucket}/ugc")]).envs(moto().env()).stderr(Stdio::null());
        BinaryServer::spawn(command, extra).await
    }

    /// Runs `command` (a server binary with its storage flags and stderr
    /// set) on a free loopback port with the test keys.
    pub async fn spawn(mut command: tokio::process::Command, extra: &[&str]) -> BinaryServer {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(key_args())
            .args(extra)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().expect("the server prints its address");
        let base = line
            .strip_prefix("vod-ugc-server listening on ")
            .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
            .to_owned();
        BinaryServer { child, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base)
    }

    /// SIGKILL, and wait until it is gone.
    pub async fn kill_9(mut self) {
        self.child.kill().await.unwrap();
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    to_hex(&Sha1::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    to_hex(&Md5::digest(data))
}

/// Deterministic pseudo-random bytes.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A signature for `sha` from `app`, valid for an hour.
pub fn sign(app: (&str, &str), sha: &str, ft: Option<&str>) -> String {
    let claims = Claims {
        secret_id: app.0.into(),
        file_name: "test".into(),
        file_sha: sha.into(),
        issued_at: now(),
        expires_at: now() + 3600,
        rand: 42,
        uid: "u1".into(),
        file_type: ft.map(str::to_owned),
        ..Claims::default()
    };
    claims.sign(app.1.as_bytes())
}

/// A file to upload, with its hash and a signature.
pub struct TestFile {
    pub data: Vec<u8>,
    pub sha: String,
    pub sig: String,
}

impl TestFile {
    pub fn new(len: usize, seed: u64, app: (&str, &str)) -> TestFile {
        let data = bytes(len, seed);
        let sha = sha1_hex(&data);
        let sig = sign(app, &sha, Some("mp4"));
        TestFile { data, sha, sig }
    }

    /// (offset, len) of every part at `part_size`.
    pub fn parts(&self, part_size: usize) -> Vec<(usize, usize)> {
        (0..self.data.len())
            .step_by(part_size)
            .map(|o| (o, part_size.min(self.data.len() - o)))
            .collect()
    }
}

/// A protocol client for tests: builds the three calls, returns answers.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api { client: reqwest::Client::new(), base: base.to_owned() }
    }

    pub fn endpoint(&self) -> String {
        format!("{}/v2/index.php", self.base)
    }

    /// GET `/v2/index.php?{query}` as written (not re-encoded).
    pub async fn get_raw(&self, query: &str) -> (u16, Answer) {
        let response = self.client.get(format!("{}?{query}", self.endpoint())).send().await.unwrap();
        read_answer(response).await
    }

    pub async fn init(&self, sha: &str, size: usize, data_size: usize, sig: &str) -> Answer {
        let url = format!(
            "{}?Action=InitUploadUGC&fileSha={sha}&fileSize={size}&dataSize={data_size}&signature={}",
            self.endpoint(),
            enc(sig)
        );
        expect_200(self.client.get(url).send().await.unwrap()).await
    }

    pub fn part_url(&self, sha: &str, offset: usize, data_size: usize, md5: &str, sig: &str) -> String {
        format!(
            "{}?Action=UploadPartUGC&fileSha={sha}&offset={offset}&dataSize={data_size}&dataMd5={md5}&signature={}",
            self.endpoint(),
            enc(sig)
        )
    }

    /// Sends `body` as the part at `offset`, with its own MD5.
    pub async fn part(&self, sha: &str, offset: usize, body: &[u8], sig: &str) -> Answer {
        let url = self.part_url(sha, offset, body.len(), &md5_hex(body), sig);
        expect_200(self.post(url, body.to_vec()).send().await.unwrap()).await
    }

    pub fn post(&self, url: String, body: Vec<u8>) -> reqwest::RequestBuilder {
        self.client
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(body)
    }

    pub async fn finish(&self, sha: &str, sig: &str) -> Answer {
        let url = format!("{}?Action=FinishUploadUGC&fileSha={sha}&signature={}", self.endpoint(), enc(sig));
        expect_200(self.client.get(url).send().await.unwrap()).await
    }

    /// Init, every part in order, finish; returns the finish answer.
    pub async fn upload(&self, file: &TestFile, part_size: usize) -> Answer {
        assert_eq!(self.init(&file.sha, file.data.len(), part_size, &file.sig).await.code, 0);
        for (offset, len) in file.parts(part_size) {
            let answer = self.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await;
            assert_eq!(answer.code, 0, "{answer:?}");
        }
        let answer = self.finish(&file.sha, &file.sig).await;
        assert_eq!(answer.code, 0, "{answer:?}");
        answer
    }

    /// The value of the sample `name` (with its labels) in `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let url = format!("{}/metrics", self.base);
        sample(&self.client.get(url).send().await.unwrap().text().await.unwrap(), name)
    }

    pub async fn fetch(&self, url: &str) -> Vec<u8> {
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }
}

/// The value of the sample `name` (with its labels) in a metrics text.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

pub fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn read_answer(response: reqwest::Response) -> (u16, Answer) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.bytes().await.unwrap();
    assert!(content_type.starts_with("application/json"), "{status} {content_type}: {body:?}");
    let answer = Answer::parse(&body).unwrap_or_else(|| panic!("not an answer: {body:?}"));
    // The wire form: integer code, canRetry 0/1, fileId a string.
    let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(raw["code"].is_i64(), "{raw}");
    if let Some(flag) = raw.get("canRetry") {
        assert!(flag == 0 || flag == 1, "{raw}");
    }
    if let Some(id) = raw.get("fileId") {
        assert!(id.as_str().is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())), "{raw}");
    }
    (status, answer)
}

pub async fn expect_200(response: reqwest::Response) -> Answer {
    let (status, answer) = read_answer(response).await;
    assert_eq!(status, 200, "{answer:?}");
    answer
}

/// Asserts a failure with this code and whether it may be retried.
#[track_caller]
pub fn assert_failure(answer: &Answer, code: i64, can_retry: bool) {
    assert_eq!(answer.code, code, "{answer:?}");
    assert_eq!(answer.can_retry(), can_retry, "{answer:?}");
    assert!(!answer.message.is_empty(), "a failure says why: {answer:?}");
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().display().to_string());
        }
    }
}

/// One real moto_server (S3 API) per test binary, on a free loopback port,
/// from the venv that `scripts/setup.sh` makes (`.venv-moto/`). A watchdog
/// shell stops it within a second of this test binary's exit.
pub struct Moto {
    pub endpoint: String,
    client: reqwest::Client,
    /// Outlives the tests on purpose: it ends moto once this process is gone.
    _watchdog: std::process::Child,
}

static MOTO: std::sync::OnceLock<Moto> = std::sync::OnceLock::new();

pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Moto {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let bin = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv-moto/bin/moto_server"));
        assert!(bin.exists(), "{} is missing: run scripts/setup.sh", bin.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let watchdog = format!(
            "\"$0\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & moto=$!; \
             while kill -0 {pid} 2>/dev/null && kill -0 $moto 2>/dev/null; do sleep 1; done; kill $moto",
            pid = std::process::id()
        );
        let watchdog = std::process::Command::new("sh")
            .args(["-c", &watchdog])
            .arg(&bin)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed().as_secs() < 30, "moto_server did not start on port {port}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Moto { endpoint, client: reqwest::Client::new(), _watchdog: watchdog }
    }

    /// What a server needs in its environment to use this moto.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }

    /// A new, empty bucket.
    pub async fn new_bucket(&self) -> String {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bucket = format!("vod-test-{}-{n}", std::process::id());
        let response = self.client.put(format!("{}/{bucket}", self.endpoint)).send().await.unwrap();
        assert!(response.status().is_success(), "creating {bucket}: {}", response.status());
        bucket
    }

    /// The keys below `prefix` inside the servers' `ugc/` prefix of `bucket`.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        use futures_util::TryStreamExt;
        use object_store::ObjectStore;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_bucket_name(bucket)
            .build()
            .unwrap();
        let path = object_store::path::Path::from(format!("ugc/{prefix}"));
        let listed: Vec<_> = store.list(Some(&path)).try_collect().await.unwrap();
        listed.iter().map(|m| m.location.as_ref().strip_prefix("ugc/").unwrap().to_owned()).collect()
    }
}
