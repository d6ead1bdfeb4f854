//! The real binary: startup line, crash safety across `kill -9`, graceful
//! shutdown, logs without secrets, and memory while receiving a large file.

mod common;

use common::*;
use sha1::{Digest, Sha1};
use vod_ugc_upload::protocol::{code, to_hex};

#[tokio::test]
async fn stored_parts_and_finished_files_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let first = BinaryServer::start(data.path(), &[]).await;
    let api = first.api();
    let done = TestFile::new(HALF * 3, 30, APP_A);
    let finished = api.upload(&done, HALF).await;
    let partial = TestFile::new(HALF * 4 - 1, 31, APP_A);
    assert_eq!(api.init(&partial.sha, partial.data.len(), HALF, &partial.sig).await.code, 0);
    let parts = partial.parts(HALF);
    for &(offset, len) in [&parts[0], &parts[2]] {
        let answer = api.part(&partial.sha, offset, &partial.data[offset..offset + len], &partial.sig).await;
        assert_eq!(answer.code, 0);
    }
    // Killed right after the answers: no chance to flush anything.
    first.kill_9().await;

    let second = BinaryServer::start(data.path(), &[]).await;
    let api = second.api();
    let resume = api.init(&partial.sha, partial.data.len(), MIB, &partial.sig).await;
    assert_eq!(resume.code, code::RESUME, "{resume:?}");
    assert_eq!(resume.data_size, Some(HALF as u64));
    let listed: Vec<(u64, Option<String>)> =
        resume.list_parts.unwrap().into_iter().map(|p| (p.offset, p.data_md5)).collect();
    let expected: Vec<(u64, Option<String>)> = [parts[0], parts[2]]
        .iter()
        .map(|&(o, l)| (o as u64, Some(md5_hex(&partial.data[o..o + l]))))
        .collect();
    assert_eq!(listed, expected);

    let instant = api.init(&done.sha, done.data.len(), HALF, &done.sig).await;
    assert_eq!(instant.code, code::INSTANT);
    assert_eq!(instant.file_id, finished.file_id);
    let url = instant.url.unwrap();
    assert!(url.starts_with(&second.base), "{url} is served by the running server");
    assert_eq!(api.fetch(&url).await, done.data);

    for &(offset, len) in [&parts[1], &parts[3]] {
        let answer = api.part(&partial.sha, offset, &partial.data[offset..offset + len], &partial.sig).await;
        assert_eq!(answer.code, 0);
    }
    let resumed = api.finish(&partial.sha, &partial.sig).await;
    assert_eq!(api.fetch(&resumed.url.unwrap()).await, partial.data);
}

/// A crash in the middle of a part (storage/disk_parts.rs): its bytes in
/// the upload's file but its record not written, or written in part. Such
/// a part was never answered, so it must not be listed; the parts answered
/// before the crash are, and so is one whose bytes and unconfirmed record
/// were synced (answered or about to be) but not yet confirmed.
#[tokio::test]
async fn parts_half_written_at_a_crash_are_not_counted() {
    let data = tempfile::tempdir().unwrap();
    let first = BinaryServer::start(data.path(), &[]).await;
    let api = first.api();
    let file = TestFile::new(HALF * 4 - 1, 33, APP_A);
    assert_eq!(api.init(&file.sha, file.data.len(), HALF, &file.sig).await.code, 0);
    let parts = file.parts(HALF);
    let (offset, len) = parts[0];
    assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    first.kill_9().await;

    // What a crash while writing parts 1 to 3 can leave: part 1's bytes
    // without a record, part 2's bytes and the first half of its record,
    // part 3's bytes and its record, unconfirmed.
    let upload = std::fs::read_dir(data.path().join("apps")).unwrap().next().unwrap().unwrap().path();
    let upload = upload.join("uploads").join(&file.sha);
    let contents = std::fs::OpenOptions::new().read(true).write(true).open(upload.join("data")).unwrap();
    // The records follow the file's bytes, one per 512 KiB.
    let slot = |offset: usize| (file.data.len() + offset / HALF * 64) as u64;
    use std::os::unix::fs::FileExt;
    for &(offset, len) in &parts[1..4] {
        contents.write_all_at(&file.data[offset..offset + len], offset as u64).unwrap();
    }
    let mut record = [0; 64];
    contents.read_exact_at(&mut record, slot(0)).unwrap();
    assert_ne!(record, [0; 64], "part 0's record is on disk");
    // Records as the server writes them: offset, length, MD5, and the
    // FNV-1a of those, complemented while unconfirmed.
    let unconfirmed = |(offset, len): (usize, usize)| {
        let body = format!("{offset:016x}{len:08x}{}", md5_hex(&file.data[offset..offset + len]));
        let fnv = body.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        format!("{body}{:08x}", !fnv)
    };
    // Part 2's torn after 40 bytes, part 3's whole.
    contents.write_all_at(&unconfirmed(parts[2]).as_bytes()[..40], slot(parts[2].0)).unwrap();
    contents.write_all_at(unconfirmed(parts[3]).as_bytes(), slot(parts[3].0)).unwrap();
    drop(contents);

    let second = BinaryServer::start(data.path(), &[]).await;
    let api = second.api();
    let resume = api.init(&file.sha, file.data.len(), HALF, &file.sig).await;
    assert_eq!(resume.code, code::RESUME, "{resume:?}");
    let listed: Vec<u64> = resume.list_parts.unwrap().into_iter().map(|p| p.offset).collect();
    assert_eq!(listed, [0, parts[3].0 as u64], "the parts whose records and bytes were synced");
    for &(offset, len) in &parts[1..3] {
        assert_eq!(api.part(&file.sha, offset, &file.data[offset..offset + len], &file.sig).await.code, 0);
    }
    let done = api.finish(&file.sha, &file.sig).await;
    assert_eq!(api.fetch(&done.url.unwrap()).await, file.data);
}

#[tokio::test]
async fn sigterm_stops_gracefully_and_logs_hold_no_secrets() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data.path().join("store"))
        .args(key_args())
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let line = stdout.next_line().await.unwrap().unwrap();
    let base = line.strip_prefix("vod-ugc-server listening on ").unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"), "{line}");

    let api = Api::new(&base);
    let file = TestFile::new(HALF + 1, 32, APP_A);
    api.upload(&file, HALF).await;
    assert_failure(&api.init(&file.sha, 5, HALF, &sign((APP_A.0, "wrong"), &file.sha, None)).await, code::SIGNATURE, false);

    let pid = child.id().unwrap().to_string();
    let kill = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(stdout.next_line().await.unwrap(), None, "one line on stdout");

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("InitUploadUGC") && log.contains("/v2/index.php"), "{log}");
    let sig_prefix = &file.sig[..24];
    for secret in [sig_prefix, &enc(&file.sig)[..24], APP_A.1, APP_B.1, "signature="] {
        assert!(!log.contains(secret), "the log leaks {secret:?}");
    }
}

#[tokio::test]
async fn mismatched_key_pairs_refuse_to_start() {
    let data = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vod-ugc-server"))
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .args(["--secret-id", "a", "--secret-key", "k", "--secret-id", "b"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pairs"));
    assert!(output.stdout.is_empty());
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// The parts of a large file are made on the fly, so the test never holds
/// the whole file either.
fn big_part(index: usize, len: usize) -> Vec<u8> {
    bytes(len, 1000 + index as u64)
}

#[tokio::test]
async fn memory_stays_bounded_while_receiving_256_mib() {
    const SIZE: usize = 256 * MIB + 4321;
    let data = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), &[]).await;
    let api = server.api();
    let count = SIZE.div_ceil(MIB);
    let len_of = |i: usize| MIB.min(SIZE - i * MIB);
    let mut hasher = Sha1::new();
    for i in 0..count {
        hasher.update(big_part(i, len_of(i)));
    }
    let sha = to_hex(&hasher.finalize());
    let sig = sign(APP_A, &sha, Some("mp4"));
    assert_eq!(api.init(&sha, SIZE, MIB, &sig).await.code, 0);

    // Four parts in flight at a time.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers = (0..4).map(|_| {
        let (api, sha, sig, next) = (api.clone(), sha.clone(), sig.clone(), next.clone());
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let body = big_part(i, len_of(i));
                assert_eq!(api.part(&sha, i * MIB, &body, &sig).await.code, 0);
            }
        })
    });
    for worker in futures_util::future::join_all(workers).await {
        worker.unwrap();
    }
    let done = api.finish(&sha, &sig).await;
    assert_eq!(done.code, 0, "{done:?}");

    // Served back through SHA-1 without holding it.
    let mut response = api.client.get(done.url.unwrap()).send().await.unwrap();
    let mut served = Sha1::new();
    let mut received = 0;
    while let Some(chunk) = response.chunk().await.unwrap() {
        received += chunk.len();
        served.update(&chunk);
    }
    assert_eq!(received, SIZE);
    assert_eq!(to_hex(&served.finalize()), sha);

    let peak = peak_rss(server.pid());
    eprintln!("server peak RSS after a 256 MiB upload: {:.1} MiB", peak as f64 / MIB as f64);
    assert!(peak < 64 * MIB as u64, "peak RSS {peak} bytes");
}
