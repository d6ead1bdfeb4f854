//! Running the server in production: unguessable ids, limits on files and
//! connections, the notify hook, metrics and health.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vod_ugc_upload::protocol::code;

/// Many small files from two apps: no fileId or media key repeats, every
/// URL's key is 128 bits of its own, and a fileId alone finds nothing.
#[tokio::test]
async fn ids_do_not_repeat_and_urls_are_not_derived_from_file_ids() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let (mut ids, mut keys) = (HashSet::new(), HashSet::new());
    for seed in 0..24 {
        let app = if seed % 2 == 0 { APP_A } else { APP_B };
        let file = TestFile::new(1000 + seed as usize, 100 + seed, app);
        let done = api.upload(&file, HALF).await;
        let (file_id, url) = (done.file_id.unwrap(), done.url.unwrap());
        let key = url
            .strip_prefix(&format!("{}/media/", server.base))
            .and_then(|path| path.strip_suffix("/f0.mp4"))
            .unwrap_or_else(|| panic!("unexpected url {url}"))
            .to_owned();
        assert!(key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
        assert!(!url.contains(&file_id), "{url} shows {file_id}");
        let by_id = api.client.get(format!("{}/media/{file_id}/f0.mp4", server.base)).send().await.unwrap();
        assert_eq!(by_id.status(), 404, "the fileId alone finds the file");
        assert!(ids.insert(file_id), "a fileId repeated");
        assert!(keys.insert(key), "a media key repeated");
    }
}

#[tokio::test]
async fn max_file_size_is_refused_at_init() {
    let server = TestServer::start(&["--max-file-size", "2000"]).await;
    let api = server.api();
    let big = TestFile::new(2001, 40, APP_A);
    let refused = api.init(&big.sha, big.data.len(), HALF, &big.sig).await;
    assert_failure(&refused, code::PROTOCOL_PARAMS, false);
    assert!(refused.message.contains("limit of 2000 bytes"), "{refused:?}");
    let fits = TestFile::new(2000, 41, APP_A);
    api.upload(&fits, HALF).await;
}

/// A raw connection to the server.
async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.strip_prefix("http://").unwrap()).await.unwrap()
}

/// Reads until the server closes the connection; returns what it sent and
/// when it closed (from `start`). Panics if still open after `within`.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin), start: Instant, within: Duration) -> (String, Duration) {
    let mut got = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("still open after {within:?}"));
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

/// An initialised upload of one small part, and the head of its POST.
async fn part_request(server: &TestServer, len: usize, seed: u64) -> (TestFile, String) {
    let file = TestFile::new(len, seed, APP_A);
    let api = server.api();
    assert_eq!(api.init(&file.sha, len, HALF, &file.sig).await.code, 0);
    let url = api.part_url(&file.sha, 0, len, &md5_hex(&file.data), &file.sig);
    let target = url.strip_prefix(&server.base).unwrap();
    let head = format!("POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n");
    (file, head)
}

#[tokio::test]
async fn a_stalled_body_is_cut_and_a_slow_moving_one_is_not() {
    let server = TestServer::start(&["--body-stall-timeout", "1s"]).await;

    // One byte every 2 s: the server answers and closes within the limit.
    let (file, head) = part_request(&server, 2000, 42).await;
    let (sha, sig) = (file.sha.clone(), file.sig.clone());
    let (mut reader, mut writer) = connect(&server).await.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let dripping = tokio::spawn(async move {
        for byte in file.data {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let (answer, after) = read_until_closed(&mut reader, start, Duration::from_secs(6)).await;
    assert!(answer.contains("\"code\":-10006"), "{answer}");
    assert!(after < Duration::from_secs(4), "closed after {after:?}");
    dripping.abort();
    let again = server.api().init(&sha, 2000, HALF, &sig).await;
    assert_eq!(again.code, 0, "nothing was stored: {again:?}");

    // 2000 bytes in 10 pieces, one every 400 ms (4 s in all): accepted.
    let (file, head) = part_request(&server, 2000, 43).await;
    let mut stream = connect(&server).await;
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in file.data.chunks(200) {
        tokio::time::sleep(Duration::from_millis(400)).await;
        stream.write_all(piece).await.unwrap();
    }
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await.unwrap().unwrap();
    let response = String::from_utf8_lossy(&response[..n]);
    assert!(response.contains("\"code\":0"), "{response}");
}

#[tokio::test]
async fn silent_and_half_sent_headers_are_closed_after_the_header_timeout() {
    let server = TestServer::start(&["--header-timeout", "1s", "--idle-timeout", "30s"]).await;
    let start = Instant::now();
    let mut silent = connect(&server).await;
    let mut half = connect(&server).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    for stream in [&mut silent, &mut half] {
        let (sent, after) = read_until_closed(stream, start, Duration::from_secs(5)).await;
        assert_eq!(sent, "", "no answer to an incomplete request");
        assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(3), "closed after {after:?}");
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(&["--header-timeout", "10s", "--idle-timeout", "1s"]).await;
    let mut stream = connect(&server).await;
    stream.write_all(b"GET /v2/index.php?Action=Nope HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("-10001"));
    let start = Instant::now();
    let (sent, after) = read_until_closed(&mut stream, start, Duration::from_secs(5)).await;
    assert_eq!(sent, "");
    assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(3), "closed after {after:?}");
}

/// The real binary: the open-file soft limit is raised to the hard limit,
/// and when idle connections fill the cap, the cap is logged, and a new
/// client is served as soon as the idle ones are cut.
#[tokio::test]
async fn open_file_limit_is_raised_and_the_connection_cap_holds() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = BinaryServer::start_logging_to(
        &data.path().join("data"),
        &["--max-connections", "4", "--header-timeout", "1500ms"],
        log,
    )
    .await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let files: Vec<&str> = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().split_whitespace().collect();
    assert_eq!(files[3], files[4], "soft limit = hard limit: {limits}");

    let addr = server.base.strip_prefix("http://").unwrap().to_owned();
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let start = Instant::now();
    let answer = server.api().get_raw("Action=Nope").await;
    let waited = start.elapsed();
    assert_eq!(answer.1.code, code::COMMON_PARAMS);
    assert!(waited >= Duration::from_millis(800), "served after {waited:?}, before the idle ones were cut");
    assert!(waited < Duration::from_secs(5), "served after {waited:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("connection limit reached: 4 connections are open"), "{log}");
}

/// A notification receiver on loopback: answers HTTP 500 to the first
/// `failures` requests, then 200; hands every body it gets to the test.
async fn receiver(failures: usize) -> (String, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                let _ = tx.send(body);
                if seen.fetch_add(1, SeqCst) < failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

#[tokio::test]
async fn published_files_are_notified_once_with_retries() {
    let (url, mut notes) = receiver(2).await;
    let server = TestServer::start(&["--notify-url", &url]).await;
    let api = server.api();
    let file = TestFile::new(HALF + 10, 50, APP_B);
    let done = api.upload(&file, HALF).await;
    let expected = serde_json::json!({
        "fileId": done.file_id.unwrap(),
        "url": done.url.unwrap(),
        "fileSha": file.sha,
        "fileSize": HALF + 10,
        "secretId": APP_B.0,
        "fileName": "test.mp4",
    });
    // Refused twice, delivered on the third attempt (after 0.5 s and 1 s).
    for attempt in 1..=3 {
        let note = tokio::time::timeout(Duration::from_secs(5), notes.recv()).await.unwrap().unwrap();
        assert_eq!(note, expected, "attempt {attempt}");
    }
    // A repeated finish and an instant upload publish nothing new.
    assert_eq!(api.finish(&file.sha, &file.sig).await.code, 0);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, code::INSTANT);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(notes.try_recv().is_err(), "notified again");
    let metrics = api.client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("\nugc_notifications_total{outcome=\"delivered\"} 1\n"), "{metrics}");
}

#[tokio::test]
async fn a_receiver_that_is_down_or_hangs_does_not_hold_up_uploads() {
    // Nothing listens on this port any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    // This one accepts connections and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hangs = format!("http://{}/hook", hanging.local_addr().unwrap());
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = hanging.accept().await {
            open.push(stream);
        }
    });
    for (i, url) in [down, hangs].iter().enumerate() {
        let server = TestServer::start(&["--notify-url", url]).await;
        let api = server.api();
        let file = TestFile::new(3000, 60 + i as u64, APP_A);
        assert_eq!(api.init(&file.sha, 3000, HALF, &file.sig).await.code, 0);
        assert_eq!(api.part(&file.sha, 0, &file.data, &file.sig).await.code, 0);
        let start = Instant::now();
        let done = api.finish(&file.sha, &file.sig).await;
        assert_eq!(done.code, 0, "{url}: {done:?}");
        assert!(start.elapsed() < Duration::from_secs(1), "{url}: finish took {:?}", start.elapsed());
        assert_eq!(api.fetch(&done.url.unwrap()).await, file.data);
    }
}

#[tokio::test]
async fn a_notify_url_that_is_not_http_refuses_to_start() {
    for bad in ["ftp://example.invalid/", "not a url"] {
        let data = tempfile::tempdir().unwrap();
        let data = data.path().to_str().unwrap();
        let args = ["vod-ugc-server", "--listen", "127.0.0.1:0", "--data", data, "--notify-url", bad];
        let args = args.into_iter().chain(["--secret-id", "a", "--secret-key", "k"]);
        let config = <vod_ugc_server::Config as clap::Parser>::parse_from(args);
        let err = vod_ugc_server::Server::bind(config).await.err().expect(bad);
        assert!(err.to_string().contains("--notify-url"), "{err}");
    }
}

#[tokio::test]
async fn metrics_count_what_happened_and_healthz_answers() {
    let server = TestServer::start(&[]).await;
    let api = server.api();
    let health = api.client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), r#"{"status":"ok"}"#);

    // Started and finished (two parts), then instant.
    let whole = TestFile::new(HALF + 100, 70, APP_A);
    api.upload(&whole, HALF).await;
    assert_eq!(api.init(&whole.sha, whole.data.len(), HALF, &whole.sig).await.code, code::INSTANT);
    // Started, one part, resumed; a part with a wrong MD5; a bad signature.
    let partial = TestFile::new(HALF * 2, 71, APP_A);
    assert_eq!(api.init(&partial.sha, partial.data.len(), HALF, &partial.sig).await.code, 0);
    assert_eq!(api.part(&partial.sha, 0, &partial.data[..HALF], &partial.sig).await.code, 0);
    assert_eq!(api.init(&partial.sha, partial.data.len(), HALF, &partial.sig).await.code, code::RESUME);
    let url = api.part_url(&partial.sha, HALF, HALF, &md5_hex(b"other"), &partial.sig);
    let refused = api.post(url, partial.data[HALF..].to_vec()).send().await.unwrap();
    assert_eq!(refused.json::<serde_json::Value>().await.unwrap()["code"], code::BODY);
    assert_eq!(api.finish(&partial.sha, "garbage").await.code, code::SIGNATURE);

    let response = api.client.get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    assert_eq!(sample(&text, "ugc_uploads_started_total"), 2.0);
    assert_eq!(sample(&text, "ugc_uploads_resumed_total"), 1.0);
    assert_eq!(sample(&text, "ugc_uploads_instant_total"), 1.0);
    assert_eq!(sample(&text, "ugc_uploads_finished_total"), 1.0);
    assert_eq!(sample(&text, "ugc_received_bytes_total"), (HALF + 100 + HALF + HALF) as f64);
    assert_eq!(sample(&text, "ugc_finish_assembled_bytes_total"), (HALF + 100) as f64);
    assert_eq!(sample(&text, "ugc_failures_total{action=\"UploadPartUGC\",code=\"-10006\"}"), 1.0);
    assert_eq!(sample(&text, "ugc_failures_total{action=\"FinishUploadUGC\",code=\"-10002\"}"), 1.0);
    assert_eq!(sample(&text, "ugc_part_duration_seconds_count"), 4.0);
    assert_eq!(sample(&text, "ugc_part_duration_seconds_bucket{le=\"+Inf\"}"), 4.0);
    assert!(sample(&text, "ugc_part_duration_seconds_sum") > 0.0);
}

#[tokio::test]
async fn a_notification_not_delivered_when_the_server_stops_is_sent_by_the_next_start() {
    let data = tempfile::tempdir().unwrap();
    let outbox = data.path().join("outbox");
    // (An empty folder goes with its last file.)
    let in_outbox = || std::fs::read_dir(&outbox).map_or(0, Iterator::count);
    let (refusing, mut refused) = receiver(usize::MAX).await;
    let server = BinaryServer::start(data.path(), &["--notify-url", &refusing]).await;
    let file = TestFile::new(HALF + 10, 52, APP_A);
    let done = server.api().upload(&file, HALF).await;
    let note = tokio::time::timeout(Duration::from_secs(5), refused.recv()).await.unwrap().unwrap();
    assert_eq!(note["fileId"], done.file_id.unwrap());
    // Killed while it retries: the notification is in the outbox.
    server.kill_9().await;
    assert_eq!(in_outbox(), 1);
    // What a finish that died before publishing leaves: a note of a file
    // that was never published.
    let void = serde_json::json!({"fileId": "1234", "url": "http://h/m", "fileSha": sha1_hex(b"void"),
        "fileSize": 4, "secretId": APP_A.0, "fileName": "void.mp4"});
    std::fs::write(outbox.join("1234.json"), void.to_string()).unwrap();

    let (url, mut notes) = receiver(0).await;
    let _server = BinaryServer::start(data.path(), &["--notify-url", &url]).await;
    let again = tokio::time::timeout(Duration::from_secs(5), notes.recv()).await.unwrap().unwrap();
    assert_eq!(again, note, "the same notification, sent by the next start");
    // Delivered, it leaves the outbox; the void one is removed, never sent.
    let started = Instant::now();
    while in_outbox() > 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "the outbox is not emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(notes.try_recv().is_err(), "sent once, and the void note never");
}
