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

/// A server running in this process until dropped.
pub struct TestServer {
    pub base: String,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
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
        TestServer { base, data: data.to_owned(), _dir: None, stop: Some(stop) }
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
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"))
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(key_args())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log)
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

    pub async fn fetch(&self, url: &str) -> Vec<u8> {
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }
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
