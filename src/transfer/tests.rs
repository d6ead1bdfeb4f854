use super::*;
use crate::protocol::Answer;

const MIB: u64 = 1_048_576;
const HALF: u64 = 524_288;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn answer(json: &str) -> Reply {
    Reply::Answer(Answer::parse(json.as_bytes()).expect("test answers are valid"))
}

/// A file of 2.5 MiB whose bytes differ from part to part.
fn file() -> Vec<u8> {
    (0..5 * HALF).map(|i| (i * 7 + i / 1000) as u8).collect()
}

fn md5s_of(file: &[u8], part_size: u64) -> PartMd5s {
    let mut md5s = PartMd5s::new(file.len() as u64, part_size);
    md5s.update(file);
    md5s
}

fn transfer(file: &[u8], remembered: bool) -> Transfer {
    let options = Options {
        endpoint: "http://127.0.0.1:1/v2/index.php".into(),
        ..Options::default()
    };
    Transfer::new(
        file.len() as u64,
        options,
        1,
        SHA.into(),
        Some("sig-1".into()),
        Some(md5s_of(file, MIB)),
        remembered,
    )
}

/// The effects until the transfer waits.
fn drain(t: &mut Transfer, now: f64) -> Vec<Effect> {
    let mut effects = Vec::new();
    loop {
        match t.poll(now) {
            Effect::Wait { .. } => return effects,
            effect => effects.push(effect),
        }
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    to_hex(&Md5::digest(bytes))
}

fn resume_answer(data_size: u64, parts: &[(u64, u64, String)]) -> Reply {
    let listed: Vec<String> = parts
        .iter()
        .map(|(offset, size, md5)| {
            format!(r#"{{"offset":{offset},"dataSize":{size},"dataMd5":"{md5}"}}"#)
        })
        .collect();
    answer(&format!(
        r#"{{"code":1,"dataSize":{data_size},"listParts":[{}]}}"#,
        listed.join(",")
    ))
}

#[test]
fn a_fresh_upload_sends_init_the_parts_from_the_file_and_finish() {
    let file = file();
    let mut t = transfer(&file, false);
    let Effect::Send { target, url, body } = t.poll(0.0) else {
        panic!("init first")
    };
    assert_eq!((target, body), (Target::Init, None));
    assert!(url.starts_with("http://127.0.0.1:1/v2/index.php?Action=InitUploadUGC&"));
    assert!(url.contains(&format!(
        "fileSha={SHA}&fileSize=2621440&dataSize=1048576&signature=sig-1"
    )));
    t.on_reply(Target::Init, answer(r#"{"code":0}"#), 1.0);

    let parts = drain(&mut t, 1.0);
    assert_eq!(parts.len(), 3);
    for (index, effect) in parts.iter().enumerate() {
        let (start, end) = (index as u64 * MIB, ((index as u64 + 1) * MIB).min(5 * HALF));
        let Effect::Send { target, url, body } = effect else {
            panic!("parts are sent: {effect:?}")
        };
        assert_eq!(*target, Target::Part(index as u64));
        assert_eq!(*body, Some((start, end)), "the body is the part's bytes");
        let md5 = md5_hex(&file[start as usize..end as usize]);
        assert!(url.contains(&format!(
            "offset={start}&dataSize={}&dataMd5={md5}&",
            end - start
        )));
    }
    t.on_sent(0, HALF, 2.0);
    for index in 0..3 {
        t.on_reply(Target::Part(index), answer(r#"{"code":0}"#), 3.0);
    }
    let Effect::Send { target, url, body } = t.poll(3.0) else {
        panic!("then finish")
    };
    assert_eq!((target, body), (Target::Finish, None));
    assert!(url.contains("Action=FinishUploadUGC&fileSha="));
    t.on_reply(
        Target::Finish,
        answer(r#"{"code":0,"fileId":"7","url":"http://h/f.mp4"}"#),
        4.0,
    );
    let Effect::Done(outcome) = t.poll(4.0) else {
        panic!("done")
    };
    assert_eq!(
        (outcome.parts_uploaded, outcome.bytes_uploaded),
        (3, 5 * HALF)
    );
    let stages: Vec<_> = std::iter::from_fn(|| t.poll_progress()).collect();
    assert_eq!(stages.last().map(|p| p.loaded), Some(5 * HALF));
}

#[test]
fn a_part_size_the_server_fixed_is_read_hashed_and_skipped_when_it_matches() {
    let file = file();
    let mut t = transfer(&file, false);
    t.poll(0.0);
    // The server keeps half-MiB parts; it holds part 1 with our bytes and
    // part 2 with others.
    let held = vec![
        (HALF, HALF, md5_hex(&file[HALF as usize..MIB as usize])),
        (MIB, HALF, "0".repeat(32)),
    ];
    t.on_reply(Target::Init, resume_answer(HALF, &held), 1.0);
    let reads = drain(&mut t, 1.0);
    assert_eq!(
        reads,
        vec![
            Effect::Read {
                target: Target::Part(0),
                start: 0,
                end: HALF
            },
            Effect::Read {
                target: Target::Part(1),
                start: HALF,
                end: MIB
            },
            Effect::Read {
                target: Target::Part(2),
                start: MIB,
                end: 3 * HALF
            },
            Effect::Read {
                target: Target::Part(3),
                start: 3 * HALF,
                end: 2 * MIB
            },
        ],
        "no MD5 of these parts from the hashing pass: they are read"
    );
    t.on_read(Target::Part(1), &file[HALF as usize..MIB as usize], 2.0);
    // Not sent: its slot goes to part 4, the last (whose MD5 the pass has:
    // the same bytes as the last part of 1 MiB).
    let Effect::Send { target, .. } = t.poll(2.0) else {
        panic!("the next part starts")
    };
    assert_eq!(
        target,
        Target::Part(4),
        "the part the server holds is not sent"
    );
    t.on_read(Target::Part(2), &file[MIB as usize..3 * HALF as usize], 2.0);
    let Effect::Send { target, url, body } = t.poll(2.0) else {
        panic!("a part the server holds other bytes of is sent")
    };
    assert_eq!((target, body), (Target::Part(2), Some((MIB, 3 * HALF))));
    assert!(url.contains(&md5_hex(&file[MIB as usize..3 * HALF as usize])));
}

/// A resume with remembered hashes where the server holds parts 0 and 1
/// with their remembered MD5s: both skipped, then checked in one read.
fn remembered_resume(file: &[u8]) -> Transfer {
    let mut t = transfer(file, true);
    t.poll(0.0);
    let held: Vec<_> = [0, 1]
        .map(|i| {
            (
                i * MIB,
                MIB,
                md5_hex(&file[(i * MIB) as usize..((i + 1) * MIB) as usize]),
            )
        })
        .into();
    t.on_reply(Target::Init, resume_answer(MIB, &held), 1.0);
    let effects = drain(&mut t, 1.0);
    assert!(matches!(
        &effects[0],
        Effect::Send {
            target: Target::Part(2),
            ..
        }
    ));
    assert_eq!(
        effects[1..],
        [Effect::Read {
            target: Target::Check,
            start: 0,
            end: 2 * MIB
        }],
        "the skipped parts are checked, adjacent ones in one read"
    );
    t.on_reply(Target::Part(2), answer(r#"{"code":0}"#), 2.0);
    assert_eq!(
        t.poll(2.0),
        Effect::Wait { until: None },
        "no finish before the check"
    );
    t
}

#[test]
fn parts_skipped_on_remembered_md5s_are_checked_before_finish() {
    let file = file();
    let mut t = remembered_resume(&file);
    t.on_read(Target::Check, &file[..2 * MIB as usize], 3.0);
    assert!(matches!(
        t.poll(3.0),
        Effect::Send {
            target: Target::Finish,
            ..
        }
    ));
}

#[test]
fn a_check_that_finds_other_bytes_fails_the_upload_as_stale() {
    let file = file();
    let mut t = remembered_resume(&file);
    let mut changed = file[..2 * MIB as usize].to_vec();
    changed[MIB as usize + 5] ^= 1;
    t.on_read(Target::Check, &changed, 3.0);
    let Effect::Failed(error) = t.poll(3.0) else {
        panic!("a changed file fails")
    };
    assert!(crate::cache::is_stale_refusal(&error), "{error:?}");
}

#[test]
fn a_fresh_signature_goes_into_every_later_request() {
    let file = file();
    let mut t = transfer(&file, false);
    t.poll(0.0);
    t.on_reply(Target::Init, answer(r#"{"code":0}"#), 1.0);
    drain(&mut t, 1.0);
    let expired = r#"{"code":-10002,"canRetry":0,"message":"signature has expired"}"#;
    t.on_reply(Target::Part(0), answer(expired), 2.0);
    assert_eq!(t.poll(2.0), Effect::Sign);
    t.on_signature("sig-2".into(), 3.0);
    let Effect::Send { target, url, .. } = t.poll(3.0) else {
        panic!("the part goes again")
    };
    assert_eq!(target, Target::Part(0));
    assert!(url.ends_with("&signature=sig-2"), "{url}");
}

#[test]
fn an_unreadable_file_or_a_failed_signature_stops_everything() {
    let file = file();
    let mut t = transfer(&file, false);
    t.poll(0.0);
    t.on_unreadable("NotReadableError");
    let Effect::Failed(error) = t.poll(1.0) else {
        panic!("failed")
    };
    assert_eq!(error.code, client_code::FILE_UNREADABLE);
    assert!(error.message.contains("(NotReadableError)"));
    assert!(matches!(t.poll(2.0), Effect::Failed(_)), "and stays failed");

    let mut t = transfer(&file, false);
    t.poll(0.0);
    t.abort();
    assert_eq!(t.poll(1.0), Effect::Aborted);
}

/// A fresh upload with its three parts in flight.
fn sending(file: &[u8]) -> Transfer {
    let mut t = transfer(file, false);
    t.poll(0.0);
    t.on_reply(Target::Init, answer(r#"{"code":0}"#), 1.0);
    assert_eq!(drain(&mut t, 1.0).len(), 3);
    t
}

#[test]
fn a_part_failing_on_the_network_while_online_reads_a_byte_before_its_retry() {
    let file = file();
    let mut t = sending(&file);
    t.on_reply(
        Target::Part(1),
        Reply::Network("Failed to fetch".into()),
        2.0,
    );
    assert_eq!(
        t.poll(2.0),
        Effect::Read {
            target: Target::Probe(1),
            start: MIB,
            end: MIB + 1
        },
        "the part's first byte is read first"
    );
    assert_eq!(t.poll(2.0), Effect::Wait { until: None }, "no retry yet");
    t.on_read(Target::Probe(1), &file[MIB as usize..][..1], 3.0);
    for index in [0, 2] {
        t.on_reply(Target::Part(index), answer(r#"{"code":0}"#), 3.0);
    }
    // Readable: the failure was the network's, retried after its backoff.
    let Effect::Wait { until: Some(at) } = t.poll(3.0) else {
        panic!("a retry is due")
    };
    let Effect::Send { target, body, .. } = t.poll(at) else {
        panic!("the part goes again")
    };
    assert_eq!((target, body), (Target::Part(1), Some((MIB, 2 * MIB))));
}

#[test]
fn a_part_failing_on_the_network_because_the_file_became_unreadable_fails_as_unreadable() {
    let file = file();
    let mut t = sending(&file);
    t.on_reply(
        Target::Part(0),
        Reply::Network("Failed to fetch".into()),
        2.0,
    );
    assert!(matches!(
        t.poll(2.0),
        Effect::Read {
            target: Target::Probe(0),
            ..
        }
    ));
    t.on_unreadable("NotReadableError");
    let Effect::Failed(error) = t.poll(3.0) else {
        panic!("failed")
    };
    assert_eq!(
        (error.code, error.can_retry, error.stage),
        (client_code::FILE_UNREADABLE, false, Stage::Part)
    );
    // A late probe read changes nothing.
    t.on_read(Target::Probe(0), &file[..1], 4.0);
    assert!(matches!(t.poll(4.0), Effect::Failed(_)));
}

#[test]
fn failures_that_say_nothing_of_the_file_are_not_probed() {
    let file = file();
    let mut t = sending(&file);
    // Offline: the failure is the network's, sent again once online.
    t.set_online(false, 2.0);
    t.on_reply(
        Target::Part(0),
        Reply::Network("Failed to fetch".into()),
        2.0,
    );
    // A stall, a server error: answers, not the body.
    t.set_online(true, 2.0);
    t.on_reply(Target::Part(1), Reply::Timeout, 2.0);
    t.on_reply(Target::Part(2), Reply::Http(503), 2.0);
    let effects = drain(&mut t, 2.0);
    assert!(
        effects.iter().all(|e| !matches!(e, Effect::Read { .. })),
        "{effects:?}"
    );
    assert!(
        matches!(
            effects.first(),
            Some(Effect::Send {
                target: Target::Part(0),
                ..
            })
        ),
        "the part failed offline goes again at once: {effects:?}"
    );
}
