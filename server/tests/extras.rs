//! Fault injection, the dev signer and the static folders.

mod common;

use common::*;
use vod_ugc_upload::protocol::{code, Answer};
use vod_ugc_upload::signature::verify;

/// What one part request came back with.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Stored,
    Http500,
    Retryable,
    NetworkError,
}

/// Sends one part once and classifies what happened.
async fn try_part(api: &Api, file: &TestFile, offset: usize, len: usize) -> Outcome {
    let body = file.data[offset..offset + len].to_vec();
    let url = api.part_url(&file.sha, offset, len, &md5_hex(&body), &file.sig);
    let response = match api.post(url, body).send().await {
        Ok(response) => response,
        Err(_) => return Outcome::NetworkError,
    };
    let status = response.status();
    let Ok(body) = response.bytes().await else {
        return Outcome::NetworkError;
    };
    if status == 500 {
        return Outcome::Http500;
    }
    let answer = Answer::parse(&body).unwrap_or_else(|| panic!("{status}: {body:?}"));
    match answer.code {
        0 => Outcome::Stored,
        code::WRITE_STATE if answer.can_retry() => Outcome::Retryable,
        _ => panic!("unexpected answer {answer:?}"),
    }
}

/// Uploads with a client that retries every part until it is stored.
async fn upload_retrying(api: &Api, file: &TestFile) -> (Answer, Vec<Outcome>) {
    let mut log = Vec::new();
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    for (offset, len) in file.parts(HALF) {
        for attempt in 0.. {
            assert!(attempt < 30, "part {offset} never stored");
            let outcome = try_part(api, file, offset, len).await;
            let stored = outcome == Outcome::Stored;
            log.push(outcome);
            if stored {
                break;
            }
        }
    }
    (api.finish(&file.sha, &file.sig).await, log)
}

#[tokio::test]
async fn injected_faults_are_survived_by_retrying_and_repeat_with_the_seed() {
    let file = TestFile::new(20 * HALF + 333, 20, APP_A);
    let mut logs = Vec::new();
    for _ in 0..2 {
        let server = TestServer::start(&["--fault-rate", "0.3", "--fault-seed", "7"]).await;
        let api = server.api();
        let (done, log) = upload_retrying(&api, &file).await;
        assert_eq!(done.code, 0, "{done:?}");
        assert_eq!(api.fetch(&done.url.unwrap()).await, file.data, "byte-exact despite faults");
        logs.push(log);
    }
    let log = &logs[0];
    for kind in [Outcome::Http500, Outcome::Retryable, Outcome::NetworkError] {
        assert!(log.contains(&kind), "no {kind:?} in {log:?}");
    }
    let faults = log.iter().filter(|o| **o != Outcome::Stored).count();
    assert!((3..=20).contains(&faults), "{faults} faults in {} requests", log.len());
    assert_eq!(logs[0], logs[1], "the same seed gives the same faults");
}

#[tokio::test]
async fn a_faulted_part_is_not_stored() {
    let server = TestServer::start(&["--fault-rate", "1"]).await;
    let api = server.api();
    let file = TestFile::new(HALF, 21, APP_A);
    assert_eq!(api.init(&file.sha, HALF, HALF, &file.sig).await.code, 0);
    let outcomes = [
        try_part(&api, &file, 0, HALF).await,
        try_part(&api, &file, 0, HALF).await,
        try_part(&api, &file, 0, HALF).await,
    ];
    assert_eq!(outcomes, [Outcome::Http500, Outcome::Retryable, Outcome::NetworkError]);
    assert_failure(&api.finish(&file.sha, &file.sig).await, code::READ_STATE, false);
    assert_eq!(api.init(&file.sha, HALF, HALF, &file.sig).await.code, 0, "no part listed");
}

#[tokio::test]
async fn dev_signer_signs_with_the_first_key() {
    let server = TestServer::start(&["--dev-signer"]).await;
    let api = server.api();
    let file = TestFile::new(5000, 22, APP_A);
    let url = format!("{}/signature?f=my%2Ffilm%3F&ft=mp4&fs={}&uid=7", server.base, file.sha.to_uppercase());
    let response = api.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let json: serde_json::Value = response.json().await.unwrap();
    let sig = json["signature"].as_str().unwrap().to_owned();
    let key = |id: &str| (id == APP_A.0).then_some(APP_A.1.as_bytes());
    let claims = verify(&sig, key, &file.sha, now()).unwrap();
    assert_eq!(claims.file_name, "my_film_");
    assert_eq!(claims.file_type.as_deref(), Some("mp4"));
    assert_eq!(claims.uid, "7");
    assert_eq!(claims.expires_at - claims.issued_at, 86_400);
    assert!(claims.issued_at.abs_diff(now()) < 60);
    assert!(claims.rand < 10_000_000_000);

    // The signature works for a whole upload.
    let done = api.upload(&TestFile { sig, ..file }, HALF).await;
    assert!(done.url.unwrap().ends_with("/f0.mp4"));

    // An empty name becomes "file"; a bad fs is a 400 with a JSON error.
    let url = format!("{}/signature?fs={}", server.base, sha1_hex(b"z"));
    let json: serde_json::Value = api.client.get(url).send().await.unwrap().json().await.unwrap();
    let claims = verify(json["signature"].as_str().unwrap(), key, &sha1_hex(b"z"), now()).unwrap();
    assert_eq!(claims.file_name, "file");
    for query in ["fs=123", "f=x", "fs=%FF"] {
        let response = api.client.get(format!("{}/signature?{query}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let json: serde_json::Value = response.json().await.unwrap();
        assert!(json["error"].as_str().unwrap().contains("fs"), "{json}");
    }
}

#[tokio::test]
async fn every_call_checks_the_signatures_expiry() {
    let server = TestServer::start(&["--dev-signer"]).await;
    let api = server.api();
    let file = TestFile::new(3 * HALF, 23, APP_A);
    let signer = |ttl: &str| {
        let url = format!("{}/signature?f=clip&ft=mp4&fs={}{ttl}", server.base, file.sha);
        let client = api.client.clone();
        async move {
            let json: serde_json::Value = client.get(url).send().await.unwrap().json().await.unwrap();
            json["signature"].as_str().unwrap().to_owned()
        }
    };
    // A signature for one second: good for InitUploadUGC and a first part...
    let short = signer("&ttl=1").await;
    let key = |id: &str| (id == APP_A.0).then_some(APP_A.1.as_bytes());
    let claims = verify(&short, key, &file.sha, now()).unwrap();
    assert_eq!(claims.expires_at - claims.issued_at, 1);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &short).await.code, 0);
    assert_eq!(api.part(&file.sha, 0, &file.data[..HALF], &short).await.code, 0);
    // ...and refused by every later call once `e` has passed.
    let expiry = std::time::UNIX_EPOCH + std::time::Duration::from_secs(claims.expires_at + 1);
    if let Ok(left) = expiry.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(left + std::time::Duration::from_millis(50)).await;
    }
    let part = api.part(&file.sha, HALF, &file.data[HALF..2 * HALF], &short).await;
    assert_failure(&part, code::SIGNATURE, false);
    assert!(part.message.contains("expired"), "{part:?}");
    assert_failure(&api.finish(&file.sha, &short).await, code::SIGNATURE, false);
    assert_failure(&api.init(&file.sha, file.data.len(), HALF, &short).await, code::SIGNATURE, false);
    // A fresh signature for the same file carries on where it stopped.
    let fresh = signer("").await;
    for offset in [HALF, 2 * HALF] {
        let answer = api.part(&file.sha, offset, &file.data[offset..offset + HALF], &fresh).await;
        assert_eq!(answer.code, 0, "{answer:?}");
    }
    assert_eq!(api.finish(&file.sha, &fresh).await.code, 0);
    // ttl is checked.
    for ttl in ["0", "86401", "-1", "x", ""] {
        let url = format!("{}/signature?fs={}&ttl={ttl}", server.base, file.sha);
        let response = api.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 400, "ttl={ttl}");
    }
}

#[tokio::test]
async fn dev_signer_is_off_by_default() {
    let server = TestServer::start(&[]).await;
    let response = server.api().client.get(format!("{}/signature?fs={}", server.base, sha1_hex(b"z"))).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn www_and_pkg_folders_are_served() {
    let www = tempfile::tempdir().unwrap();
    let pkg = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(www.path().join("app.js"), "export {}").unwrap();
    std::fs::write(pkg.path().join("vod_ugc_upload_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(pkg.path().join("vod_ugc_upload.js"), "export default 1").unwrap();
    let server = TestServer::start(&[
        "--www",
        www.path().to_str().unwrap(),
        "--pkg",
        pkg.path().to_str().unwrap(),
    ])
    .await;
    let client = server.api().client;
    let get = |path: &str| client.get(format!("{}{path}", server.base)).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(index.text().await.unwrap(), "<h1>demo</h1>");
    let wasm = get("/pkg/vod_ugc_upload_bg.wasm").await.unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(wasm.bytes().await.unwrap().as_ref(), b"\0asm\x01\0\0\0");
    let js = get("/pkg/vod_ugc_upload.js").await.unwrap();
    assert!(js.headers()["content-type"].to_str().unwrap().contains("javascript"));
    assert_eq!(get("/app.js").await.unwrap().status(), 200);
    assert_eq!(get("/nope.html").await.unwrap().status(), 404);
    assert_eq!(get("/../../etc/passwd").await.unwrap().status(), 404);
    // The protocol still answers beside the static folders.
    let (status, answer) = server.api().get_raw("Action=Nope").await;
    assert_eq!((status, answer.code), (200, code::COMMON_PARAMS));
}

#[tokio::test]
async fn public_url_is_the_base_of_media_urls() {
    let server = TestServer::start(&["--public-url", "https://cdn.example/vod/"]).await;
    let api = server.api();
    let file = TestFile::new(1234, 23, APP_A);
    let done = api.upload(&file, HALF).await;
    let url = done.url.unwrap();
    let path = url.strip_prefix("https://cdn.example/vod/media/").unwrap_or_else(|| panic!("{url}"));
    // Still served here under the same path.
    assert_eq!(api.fetch(&format!("{}/media/{path}", server.base)).await, file.data);
}
