//! Many instances, one service: several `vod-ugc-server` processes on one
//! bucket of a real S3 API (moto_server). Parts alternate between them, one
//! is killed with SIGKILL mid-upload, finishes race on two instances, and
//! instant upload and resume work from any instance. Finishes racing on two
//! instances (on a bucket, or on one data folder) assemble the file once.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vod_ugc_upload::protocol::code;

async fn instances(bucket: &str, n: usize) -> Vec<BinaryServer> {
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(BinaryServer::start_s3(bucket, &[]).await);
    }
    servers
}

#[tokio::test]
async fn parts_alternate_between_instances_and_one_dies_mid_upload() {
    let bucket = moto().new_bucket().await;
    let mut servers = instances(&bucket, 3).await;
    let file = TestFile::new(7 * HALF + 999, 40, APP_A);
    let parts = file.parts(HALF);
    let body = |i: usize| file.data[parts[i].0..parts[i].0 + parts[i].1].to_vec();
    let apis: Vec<Api> = servers.iter().map(BinaryServer::api).collect();
    assert_eq!(apis[0].init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);

    // Parts 0, 1, 2 on instances 0, 1, 2.
    for i in 0..3 {
        assert_eq!(apis[i].part(&file.sha, parts[i].0, &body(i), &file.sig).await.code, 0);
    }
    // Part 3 goes to instance 2, which is killed while the body is on its way.
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let url = apis[2].part_url(&file.sha, parts[3].0, parts[3].1, &md5_hex(&body(3)), &file.sig);
    let in_flight = tokio::spawn(apis[2].post(url, Vec::new()).body(reqwest::Body::wrap_stream(chunks)).send());
    tx.send(body(3)[..1000].to_vec()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    servers.pop().unwrap().kill_9().await;
    assert!(in_flight.await.unwrap().is_err(), "the part sent to the killed instance is not answered");

    // The survivors resume: instance 1 lists what instances 0, 1 and 2
    // acknowledged, with the part size fixed at the start.
    let resume = apis[1].init(&file.sha, file.data.len(), MIB, &file.sig).await;
    assert_eq!((resume.code, resume.data_size), (code::RESUME, Some(HALF as u64)), "{resume:?}");
    let listed: Vec<u64> = resume.list_parts.unwrap().iter().map(|p| p.offset).collect();
    assert_eq!(listed, parts[..3].iter().map(|p| p.0 as u64).collect::<Vec<_>>());
    for i in 3..parts.len() {
        assert_eq!(apis[i % 2].part(&file.sha, parts[i].0, &body(i), &file.sig).await.code, 0);
    }
    let done = apis[1].finish(&file.sha, &file.sig).await;
    assert_eq!(done.code, 0, "{done:?}");
    let url = done.url.unwrap();
    assert!(url.starts_with(&servers[1].base), "{url}");
    assert_eq!(apis[1].fetch(&url).await, file.data);
    // The same file is served by the other instance.
    let other = url.replace(&servers[1].base, &servers[0].base);
    assert_eq!(apis[0].fetch(&other).await, file.data);
    // And finishing again there answers the same file.
    let again = apis[0].finish(&file.sha, &file.sig).await;
    assert_eq!(again.file_id, done.file_id);
}

#[tokio::test]
async fn concurrent_finishes_on_two_instances_publish_one_file() {
    let bucket = moto().new_bucket().await;
    let servers = instances(&bucket, 2).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    // Several rounds, and files large enough (6 MiB) that both assemble at
    // once; every round publishes exactly one file.
    for seed in 0..3 {
        let file = TestFile::new(6 * MIB + 17, 50 + seed, APP_A);
        assert_eq!(a.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
        for (i, (offset, len)) in file.parts(MIB).into_iter().enumerate() {
            let api = if i % 2 == 0 { &a } else { &b };
            assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
        }
        let (on_a, on_b) = tokio::join!(a.finish(&file.sha, &file.sig), b.finish(&file.sha, &file.sig));
        assert_eq!((on_a.code, on_b.code), (0, 0), "{on_a:?} {on_b:?}");
        assert_eq!(on_a.file_id, on_b.file_id, "one fileId");
        let media: Vec<String> = moto().keys(&bucket, "media/").await;
        assert_eq!(media.len(), seed as usize + 1, "one media object per file: {media:?}");
        assert_eq!(a.fetch(&on_b.url.unwrap()).await, file.data);
        assert_eq!(assembled(&[&a, &b]).await, (seed + 1) * file.data.len() as u64, "assembled once");
    }
    assert!(moto().keys(&bucket, "apps/").await.iter().all(|k| !k.contains("/uploads/")), "no parts left, no lease");
}

/// Bytes the servers behind `apis` assembled at finish, together.
async fn assembled(apis: &[&Api]) -> u64 {
    let mut sum = 0.0;
    for api in apis {
        sum += api.metric("ugc_finish_assembled_bytes_total").await;
    }
    sum as u64
}

/// Two servers on one data folder, a file stored but not finished.
async fn two_on_one_folder(data: &std::path::Path, file: &TestFile) -> (TestServer, TestServer) {
    let (one, two) = (TestServer::start_in(data, &[]).await, TestServer::start_in(data, &[]).await);
    let (a, b) = (one.api(), two.api());
    assert_eq!(a.init(&file.sha, file.data.len(), MIB, &file.sig).await.code, 0);
    for (i, (offset, len)) in file.parts(MIB).into_iter().enumerate() {
        let api = if i % 2 == 0 { &a } else { &b };
        assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    }
    (one, two)
}

#[tokio::test]
async fn concurrent_finishes_on_one_data_folder_assemble_once() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..3 {
        let file = TestFile::new(24 * MIB + 5, 70 + seed, APP_A);
        let (one, two) = two_on_one_folder(dir.path(), &file).await;
        let (a, b) = (one.api(), two.api());
        let (on_a, on_b) = tokio::join!(a.finish(&file.sha, &file.sig), b.finish(&file.sha, &file.sig));
        assert_eq!((on_a.code, on_b.code), (0, 0), "{on_a:?} {on_b:?}");
        assert_eq!(on_a.file_id, on_b.file_id, "one fileId");
        assert_eq!(assembled(&[&a, &b]).await, file.data.len() as u64, "the second finish waited for the first's record");
        assert_eq!(b.fetch(&on_a.url.unwrap()).await, file.data);
        assert_eq!(one.keys("media/").await.len(), seed as usize + 1, "one media file per file");
        assert!(one.keys("apps/").await.iter().all(|k| !k.contains("/uploads/")), "no parts left, no lease");
    }
}

#[tokio::test]
async fn a_held_finish_lease_makes_finish_wait_and_an_expired_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let file = TestFile::new(3 * MIB, 80, APP_A);
    let (one, _two) = two_on_one_folder(dir.path(), &file).await;
    let api = one.api();
    let app = vod_ugc_upload::protocol::to_hex(APP_A.0.as_bytes());
    let lease_of = |sha: &str| dir.path().join(format!("apps/{app}/uploads/{sha}/finishing.json"));
    let write_lease = |sha: &str, expires_ms: u64| {
        std::fs::write(lease_of(sha), format!(r#"{{"expiresMs":{expires_ms}}}"#)).unwrap();
    };
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;

    // Another finish holds the lease (for a minute): this one waits...
    write_lease(&file.sha, now_ms() + 60_000);
    let finish = tokio::spawn({
        let (api, sha, sig) = (one.api(), file.sha.clone(), file.sig.clone());
        async move { api.finish(&sha, &sig).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!finish.is_finished(), "a finish waits while another holds the lease");
    assert_eq!(assembled(&[&api]).await, 0);
    // ...and, once the holder gave it up without publishing, finishes itself.
    std::fs::remove_file(lease_of(&file.sha)).unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), finish).await.unwrap().unwrap();
    assert_eq!(done.code, 0, "{done:?}");
    assert_eq!(api.fetch(&done.url.unwrap()).await, file.data);

    // A lease whose holder died (expired) is taken over at once.
    let file = TestFile::new(2 * MIB, 81, APP_A);
    let (one, _two) = two_on_one_folder(dir.path(), &file).await;
    write_lease(&file.sha, now_ms() - 1);
    let started = std::time::Instant::now();
    let done = one.api().finish(&file.sha, &file.sig).await;
    assert_eq!(done.code, 0, "{done:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "taken over without waiting for it: {:?}", started.elapsed());
    assert!(!lease_of(&file.sha).exists(), "the lease goes with the upload");
}

#[tokio::test]
async fn instant_upload_and_resume_from_another_instance() {
    let bucket = moto().new_bucket().await;
    let servers = instances(&bucket, 2).await;
    let (a, b) = (servers[0].api(), servers[1].api());
    let file = TestFile::new(3 * HALF, 60, APP_A);
    let done = a.upload(&file, HALF).await;
    let sig = sign(APP_A, &file.sha, Some("mp4"));
    let instant = b.init(&file.sha, file.data.len(), MIB, &sig).await;
    assert_eq!(instant.code, code::INSTANT, "{instant:?}");
    assert_eq!(instant.file_id, done.file_id);
    let url = instant.url.unwrap();
    assert!(url.starts_with(&servers[1].base), "{url}");
    assert_eq!(b.fetch(&url).await, file.data);
    // Another app does not see it.
    let other = b.init(&file.sha, file.data.len(), MIB, &sign(APP_B, &file.sha, None)).await;
    assert_eq!(other.code, 0, "{other:?}");
}

#[tokio::test]
async fn a_bucket_that_does_not_answer_refuses_to_start() {
    let missing = format!("s3://{}-missing/ugc", moto().new_bucket().await);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"))
        .args(["--listen", "127.0.0.1:0", "--storage", &missing])
        .args(key_args())
        .envs(moto().env())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "never listening");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open storage s3://") && stderr.contains("bucket"), "{stderr}");
}

/// A TCP proxy in front of moto that keeps every byte sent to it (the
/// requests, for counting them): its endpoint, and the bytes.
async fn recording_proxy() -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    let moto_address = moto().endpoint.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::TcpStream::connect(&moto_address).await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_moto, mut to_moto) = upstream.into_split();
                let up = async {
                    let mut buffer = vec![0; 64 * 1024];
                    loop {
                        let n = from_client.read(&mut buffer).await?;
                        if n == 0 {
                            return to_moto.shutdown().await;
                        }
                        record.lock().unwrap().extend_from_slice(&buffer[..n]);
                        to_moto.write_all(&buffer[..n]).await?;
                    }
                };
                let down = tokio::io::copy(&mut from_moto, &mut to_client);
                let _: (std::io::Result<()>, _) = tokio::join!(up, down);
            });
        }
    });
    (endpoint, sent)
}

#[tokio::test]
async fn head_of_media_on_s3_sends_s3_a_head_and_opens_nothing() {
    let bucket = moto().new_bucket().await;
    let (proxy, sent) = recording_proxy().await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"));
    command
        .args(["--storage", &format!("s3://{bucket}/ugc")])
        .envs(moto().env())
        .env("AWS_ENDPOINT", &proxy)
        .stderr(Stdio::null());
    let server = BinaryServer::spawn(command, &[]).await;
    let api = server.api();
    let file = TestFile::new(3 * HALF + 1, 90, APP_A);
    let url = api.upload(&file, HALF).await.url.unwrap();
    // Requests for the media object, by method, since the last count.
    let media = format!(" /{bucket}/ugc/media/");
    let requests = || {
        let sent = String::from_utf8_lossy(&std::mem::take(&mut *sent.lock().unwrap())).into_owned();
        ["HEAD", "GET"].map(|method| sent.matches(&format!("{method}{media}")).count())
    };
    requests();

    let head = api.client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], (3 * HALF + 1).to_string().as_str());
    assert_eq!(requests(), [1, 0], "one HEAD to S3, no GET");
    assert_eq!(api.fetch(&url).await, file.data);
    assert_eq!(requests()[1], 1, "a GET streams the object");
}
