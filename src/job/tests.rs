use super::*;
use crate::engine::Outcome;
use crate::hash::Sha1;
use crate::protocol::Answer;
use crate::reply::Reply;
use crate::transfer::Target;

const MIB: u64 = 1_048_576;

fn file() -> Vec<u8> {
    (0..3 * MIB).map(|i| (i * 13 + i / 4096) as u8).collect()
}

fn answer(json: &str) -> Reply {
    Reply::Answer(Answer::parse(json.as_bytes()).expect("test answers are valid"))
}

fn sha1_hex(bytes: &[u8]) -> String {
    to_hex(&Sha1::digest(bytes))
}

fn md5s(file: &[u8]) -> PartMd5s {
    let mut md5s = PartMd5s::new(file.len() as u64, MIB);
    md5s.update(file);
    md5s
}

fn options() -> Options {
    Options {
        endpoint: "http://127.0.0.1:1/v2/index.php".into(),
        ..Options::default()
    }
}

/// Feeds the file in two reads, as the driver does after [`Effect::Hash`].
fn hash(job: &mut Job, file: &[u8]) {
    assert_eq!(job.poll(0.0), Effect::Hash);
    let (a, b) = file.split_at(file.len() / 3);
    job.on_bytes(a, 1.0);
    job.on_bytes(b, 2.0);
    job.on_hashed(1e12);
}

/// Answers the transfer's requests as a server would: `init` to
/// InitUploadUGC, OK to every part, and a file id to FinishUploadUGC.
fn serve(job: &mut Job, init: &str) -> Ended {
    for _ in 0..100 {
        match job.poll(3.0) {
            Effect::Transfer(transfer::Effect::Send { target, .. }) => {
                let reply = match target {
                    Target::Init => answer(init),
                    Target::Finish => answer(r#"{"code":0,"fileId":"9","url":"http://h/9"}"#),
                    _ => answer(r#"{"code":0}"#),
                };
                job.transfer()
                    .expect("sending")
                    .on_reply(target, reply, 3.0);
            }
            Effect::End(ended) => return ended,
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("no end")
}

fn uploaded(ended: Ended) -> (String, Outcome, bool) {
    match ended {
        Ended::Uploaded {
            file_sha,
            outcome,
            rehashed,
        } => (file_sha, outcome, rehashed),
        other => panic!("not uploaded: {other:?}"),
    }
}

#[test]
fn hash_file_reads_once_and_reports_the_hash_stage() {
    let file = file();
    let mut job = Job::hash_file(file.len() as u64, 0.0);
    hash(&mut job, &file);
    assert_eq!(job.poll(3.0), Effect::End(Ended::Hashed(sha1_hex(&file))));
    let loaded: Vec<u64> = std::iter::from_fn(|| job.poll_progress())
        .map(|p| p.loaded)
        .collect();
    assert_eq!(loaded, vec![0, MIB, 3 * MIB]);
}

#[test]
fn an_upload_without_cache_hashes_signs_and_sends() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    hash(&mut job, &file);
    assert_eq!(job.poll(2.0), Effect::Sign);
    assert_eq!(
        job.poll(2.0),
        Effect::Transfer(transfer::Effect::Wait { until: None })
    );
    job.on_signature("sig".into(), 2.0);
    let (file_sha, outcome, rehashed) = uploaded(serve(&mut job, r#"{"code":0}"#));
    let last = std::iter::from_fn(|| job.poll_progress())
        .last()
        .expect("reports");
    assert_eq!(
        (last.stage, last.loaded),
        (crate::progress::ProgressStage::Finish, 3 * MIB),
        "the finish stage's last report outlives the transfer"
    );
    assert_eq!(file_sha, sha1_hex(&file));
    assert_eq!((outcome.parts_uploaded, rehashed), (3, false));
}

#[test]
fn a_fresh_hash_is_remembered_and_forgotten_once_uploaded() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), true, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::CacheLoad);
    assert_eq!(
        job.poll(0.0),
        Effect::Transfer(transfer::Effect::Wait { until: None })
    );
    job.on_cache(None, 0.0);
    hash(&mut job, &file);
    let Effect::CacheStore(entry) = job.poll(2.0) else {
        panic!("the hashes are remembered")
    };
    assert_eq!(entry.file_sha, sha1_hex(&file));
    assert_eq!(entry.saved_at, 1e12);
    assert!(
        matches!(job.poll(2.0), Effect::Transfer(_)),
        "signing waits for the store"
    );
    job.on_cache(None, 2.0);
    assert_eq!(job.poll(2.0), Effect::Sign);
    job.on_signature("sig".into(), 2.0);
    let mut ended = None;
    // The entry is forgotten before the end.
    for _ in 0..100 {
        match job.poll(3.0) {
            Effect::Transfer(transfer::Effect::Send { target, .. }) => {
                let reply = match target {
                    Target::Finish => answer(r#"{"code":0,"fileId":"9","url":"http://h/9"}"#),
                    _ => answer(r#"{"code":0}"#),
                };
                job.transfer().unwrap().on_reply(target, reply, 3.0);
            }
            Effect::CacheForget => {
                assert_eq!(
                    job.poll(3.0),
                    Effect::Transfer(transfer::Effect::Wait { until: None })
                );
                job.abort();
                job.on_cache(None, 3.0);
            }
            Effect::End(end) => {
                ended = Some(end);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (_, outcome, _) = uploaded(ended.expect("ended"));
    assert_eq!(
        outcome.file_id, "9",
        "an abort after the upload is done changes nothing"
    );
}

#[test]
fn remembered_hashes_skip_hashing() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), true, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::CacheLoad);
    job.on_cache(Some((sha1_hex(&file), md5s(&file))), 5.0);
    let reports: Vec<Progress> = std::iter::from_fn(|| job.poll_progress()).collect();
    assert_eq!(reports.len(), 1, "one hash report, complete");
    assert_eq!(reports[0].loaded, file.len() as u64);
    assert_eq!(job.poll(5.0), Effect::Sign);
    job.on_signature("sig".into(), 5.0);
    let init = job.poll(5.0);
    assert!(matches!(
        init,
        Effect::Transfer(transfer::Effect::Send {
            target: Target::Init,
            ..
        })
    ));
}

/// An upload from remembered hashes whose transfer ends with `init` as the
/// answer to InitUploadUGC.
fn remembered_upload(file: &[u8], sha: &str, init: &str) -> Job {
    let mut job = Job::upload(file.len() as u64, options(), true, 1, 0.0);
    job.poll(0.0);
    job.on_cache(Some((sha.into(), md5s(file))), 0.0);
    job.poll(0.0);
    job.on_signature("sig".into(), 0.0);
    let Effect::Transfer(transfer::Effect::Send { target, .. }) = job.poll(0.0) else {
        panic!("init")
    };
    job.transfer().unwrap().on_reply(target, answer(init), 1.0);
    job
}

#[test]
fn an_instant_upload_of_a_remembered_hash_is_confirmed_by_hashing() {
    let file = file();
    let instant = r#"{"code":2,"fileId":"42","url":"http://h/42"}"#;
    let mut job = remembered_upload(&file, &sha1_hex(&file), instant);
    hash(&mut job, &file);
    assert!(matches!(job.poll(3.0), Effect::CacheStore(_)));
    job.on_cache(None, 3.0);
    assert_eq!(job.poll(3.0), Effect::CacheForget);
    job.on_cache(None, 3.0);
    let (_, outcome, rehashed) = uploaded(match job.poll(3.0) {
        Effect::End(ended) => ended,
        other => panic!("{other:?}"),
    });
    assert!(
        outcome.instant && !rehashed,
        "the same SHA-1: the answer is kept"
    );

    // A file changed in place: the fresh SHA-1 differs, and is sent.
    let stale = "0".repeat(40);
    let mut job = remembered_upload(&file, &stale, instant);
    hash(&mut job, &file);
    assert!(matches!(job.poll(3.0), Effect::CacheStore(_)));
    job.on_cache(None, 3.0);
    assert_eq!(job.poll(3.0), Effect::Sign);
    job.on_signature("sig".into(), 3.0);
    let ended = std::iter::from_fn(|| match job.poll(3.0) {
        Effect::CacheForget => {
            job.on_cache(None, 3.0);
            Some(None)
        }
        Effect::End(ended) => Some(Some(ended)),
        Effect::Transfer(transfer::Effect::Send { target, .. }) => {
            let reply = match target {
                Target::Finish => answer(r#"{"code":0,"fileId":"9","url":"http://h/9"}"#),
                _ => answer(r#"{"code":0}"#),
            };
            job.transfer().unwrap().on_reply(target, reply, 3.0);
            Some(None)
        }
        other => panic!("{other:?}"),
    })
    .flatten()
    .next()
    .unwrap();
    let (file_sha, outcome, rehashed) = uploaded(ended);
    assert_eq!(file_sha, sha1_hex(&file));
    assert!(!outcome.instant && rehashed);
}

#[test]
fn a_stale_refusal_forgets_the_entry_and_hashes_again_once() {
    let file = file();
    let refused = r#"{"code":-10006,"canRetry":0,"message":"md5 mismatch"}"#;
    let mut job = remembered_upload(&file, &sha1_hex(&file), r#"{"code":0}"#);
    let Effect::Transfer(transfer::Effect::Send { target, .. }) = job.poll(1.0) else {
        panic!("a part")
    };
    job.transfer()
        .unwrap()
        .on_reply(target, answer(refused), 2.0);
    // The other parts in flight are dropped with the transfer.
    let effect = std::iter::from_fn(|| Some(job.poll(2.0)))
        .find(|e| !matches!(e, Effect::Transfer(transfer::Effect::Send { .. })))
        .unwrap();
    assert_eq!(effect, Effect::CacheForget);
    job.on_cache(None, 2.0);
    hash(&mut job, &file);
    assert!(matches!(job.poll(3.0), Effect::CacheStore(_)));
    job.on_cache(None, 3.0);
    assert_eq!(job.poll(3.0), Effect::Sign);
    job.on_signature("sig".into(), 3.0);
    // A second refusal fails for good.
    let Effect::Transfer(transfer::Effect::Send { target, .. }) = job.poll(3.0) else {
        panic!("init")
    };
    job.transfer()
        .unwrap()
        .on_reply(target, answer(r#"{"code":0}"#), 3.0);
    let Effect::Transfer(transfer::Effect::Send { target, .. }) = job.poll(3.0) else {
        panic!("a part")
    };
    job.transfer()
        .unwrap()
        .on_reply(target, answer(refused), 4.0);
    let end = std::iter::from_fn(|| Some(job.poll(4.0)))
        .find(|e| matches!(e, Effect::End(_)))
        .unwrap();
    assert!(
        matches!(end, Effect::End(Ended::Failed(ref e)) if is_stale_refusal(e)),
        "{end:?}"
    );
}

#[test]
fn abort_and_unreadable_end_the_hashing() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    job.on_bytes(&file[..10], 1.0);
    job.abort();
    assert_eq!(job.poll(1.0), Effect::End(Ended::Aborted));

    let mut job = Job::hash_file(file.len() as u64, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    job.on_unreadable("NotFoundError");
    let Effect::End(Ended::Failed(error)) = job.poll(1.0) else {
        panic!("failed")
    };
    assert_eq!(error.stage, Stage::Hash);
}

/// What the web adapter makes of a `getSignature` that rejected
/// (`can_retry`) or returned no string.
fn sign_failed(can_retry: bool) -> UploadError {
    UploadError::new(
        crate::error::client_code::SIGNATURE_FAILED,
        can_retry,
        Stage::Sign,
        "getSignature rejected".to_owned(),
    )
}

#[test]
fn the_first_signature_waits_while_offline_and_is_asked_once_online() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    job.set_online(false, 0.0);
    hash(&mut job, &file);
    for now in [2.0, 60_000.0, 3_600_000.0] {
        assert_eq!(
            job.poll(now),
            Effect::Transfer(transfer::Effect::Wait { until: None }),
            "no getSignature while offline, however long"
        );
    }
    let offline = std::iter::from_fn(|| job.poll_progress()).last();
    assert_eq!(
        offline.map(|p| p.waiting),
        Some(Some(crate::progress::Waiting::Offline)),
        "the wait is reported"
    );
    job.set_online(true, 3_600_001.0);
    assert_eq!(job.poll(3_600_001.0), Effect::Sign);
    job.on_signature("sig".into(), 3_600_002.0);
    let (file_sha, ..) = uploaded(serve(&mut job, r#"{"code":0}"#));
    assert_eq!(file_sha, sha1_hex(&file));
}

#[test]
fn a_signature_that_fails_while_offline_is_asked_again_once_online() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    hash(&mut job, &file);
    assert_eq!(job.poll(2.0), Effect::Sign);
    // The app's backend is out of reach: getSignature rejects.
    job.set_online(false, 3.0);
    job.fail(sign_failed(true));
    assert_eq!(
        job.poll(3.0),
        Effect::Transfer(transfer::Effect::Wait { until: None })
    );
    job.set_online(true, 4.0);
    assert_eq!(job.poll(4.0), Effect::Sign, "asked again");
    job.on_signature("sig".into(), 5.0);
    let (file_sha, ..) = uploaded(serve(&mut job, r#"{"code":0}"#));
    assert_eq!(file_sha, sha1_hex(&file));
}

#[test]
fn a_signature_that_fails_online_or_returns_no_string_fails_the_upload() {
    let file = file();
    for (online, can_retry) in [(true, true), (false, false)] {
        let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
        hash(&mut job, &file);
        assert_eq!(job.poll(2.0), Effect::Sign);
        job.set_online(online, 3.0);
        job.fail(sign_failed(can_retry));
        assert_eq!(
            job.poll(3.0),
            Effect::End(Ended::Failed(sign_failed(can_retry))),
            "online {online}, can_retry {can_retry}"
        );
    }
}

/// The digests the reading Worker sends back: SHA-1, then the parts' MD5s.
fn digests(file: &[u8], part_md5s: bool) -> Vec<u8> {
    let mut digests = Sha1::digest(file).to_vec();
    if part_md5s {
        digests.extend(md5s(file).to_bytes().expect("complete"));
    }
    digests
}

fn hash_reports(job: &mut Job) -> Vec<u64> {
    std::iter::from_fn(|| job.poll_progress())
        .map(|p| p.loaded)
        .collect()
}

#[test]
fn hash_file_hashed_elsewhere_takes_its_progress_and_digests() {
    let file = file();
    let mut job = Job::hash_file(file.len() as u64, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    assert_eq!(job.part_size(), None, "hashFile needs no part MD5s");
    job.on_hash_progress(MIB, 1.0);
    job.on_hash_progress(MIB, 1.5);
    job.on_hash_progress(3 * MIB, 2.0);
    job.on_digests(&digests(&file, false), 1e12);
    assert_eq!(job.poll(3.0), Effect::End(Ended::Hashed(sha1_hex(&file))));
    assert_eq!(
        hash_reports(&mut job),
        vec![0, MIB, 3 * MIB],
        "one report per advance"
    );
}

#[test]
fn an_upload_hashed_elsewhere_sends_with_its_part_md5s() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    assert_eq!(job.part_size(), Some(MIB));
    job.on_hash_progress(3 * MIB, 1.0);
    job.on_digests(&digests(&file, true), 1e12);
    assert_eq!(job.poll(2.0), Effect::Sign);
    job.on_signature("sig".into(), 2.0);
    // `serve` fails on any read: every part's MD5 came with the digests.
    let (file_sha, outcome, _) = uploaded(serve(&mut job, r#"{"code":0}"#));
    assert_eq!((file_sha, outcome.parts_uploaded), (sha1_hex(&file), 3));
}

#[test]
fn hashes_from_elsewhere_are_remembered_like_the_pages() {
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), true, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::CacheLoad);
    job.on_cache(None, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    job.on_digests(&digests(&file, true), 1e12);
    let Effect::CacheStore(entry) = job.poll(2.0) else {
        panic!("the hashes are remembered")
    };
    assert_eq!(entry.file_sha, sha1_hex(&file));
    assert_eq!(entry.saved_at, 1e12);
}

#[test]
fn malformed_digests_fail_the_call() {
    let file = file();
    for (part_md5s, cut) in [(false, 1), (true, 1), (true, 17)] {
        let mut job = if part_md5s {
            Job::upload(file.len() as u64, options(), false, 1, 0.0)
        } else {
            Job::hash_file(file.len() as u64, 0.0)
        };
        assert_eq!(job.poll(0.0), Effect::Hash);
        let digests = digests(&file, part_md5s);
        job.on_digests(&digests[..digests.len() - cut], 1e12);
        let Effect::End(Ended::Failed(error)) = job.poll(1.0) else {
            panic!("fails")
        };
        assert_eq!(error.code, crate::error::client_code::FILE_UNREADABLE);
    }
    let mut job = Job::hash_file(file.len() as u64, 0.0);
    job.poll(0.0);
    job.on_digests(&digests(&file, true), 1e12);
    assert!(
        matches!(job.poll(1.0), Effect::End(Ended::Failed(_))),
        "MD5s where none were asked for"
    );
}

#[test]
fn a_pass_begun_again_on_the_page_reports_only_past_what_was_reported() {
    // The Worker hashed 2 MiB, then failed: the page hashes from the first
    // byte; progress never goes back nor repeats.
    let file = file();
    let mut job = Job::upload(file.len() as u64, options(), false, 1, 0.0);
    assert_eq!(job.poll(0.0), Effect::Hash);
    job.on_hash_progress(2 * MIB, 1.0);
    for (i, chunk) in file.chunks(MIB as usize).enumerate() {
        job.on_bytes(chunk, 2.0 + i as f64);
    }
    job.on_hashed(1e12);
    assert_eq!(job.poll(5.0), Effect::Sign);
    assert_eq!(job.signing(), (3 * MIB, sha1_hex(&file).as_str()));
    assert_eq!(hash_reports(&mut job), vec![0, 2 * MIB, 3 * MIB]);
}
