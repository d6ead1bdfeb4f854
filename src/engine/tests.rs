use super::*;
use crate::protocol::ListedPart;

const MIB: u64 = 1_048_576;
const HALF: u64 = 524_288;

fn answer(json: &str) -> Reply {
    Reply::Answer(Answer::parse(json.as_bytes()).expect("test answers are valid"))
}

fn ok() -> Reply {
    answer(r#"{"code":0}"#)
}

fn finished() -> Reply {
    answer(r#"{"code":0,"fileId":"7031868222808505913","url":"http://h/f0.mp4"}"#)
}

fn options(concurrency: u64, retries: u64) -> Options {
    Options {
        concurrency,
        retries,
        ..Options::default()
    }
}

/// Starts every part the engine offers now, in order.
fn take_parts(engine: &mut Engine, now: f64) -> Vec<PartJob> {
    let mut jobs = Vec::new();
    while let Step::Part(job) = engine.poll(now) {
        jobs.push(job);
    }
    jobs
}

fn drain_progress(engine: &mut Engine) -> Vec<Progress> {
    std::iter::from_fn(|| engine.poll_progress()).collect()
}

#[test]
fn fresh_upload_sends_every_part_within_concurrency_then_finishes() {
    let size = 6_000_000;
    let mut e = Engine::new(size, options(4, 5), 1);
    assert_eq!(e.poll(0.0), Step::Init { part_size: MIB });
    assert_eq!(e.poll(0.0), Step::Wait { until: None }, "init is sent once");
    e.on_init(ok(), 1.0);

    let first = take_parts(&mut e, 1.0);
    assert_eq!(first.len(), 4, "concurrency caps parts in flight");
    assert_eq!(
        first
            .iter()
            .map(|j| (j.part.offset, j.part.len))
            .collect::<Vec<_>>(),
        vec![(0, MIB), (MIB, MIB), (2 * MIB, MIB), (3 * MIB, MIB)]
    );
    assert!(first.iter().all(|j| j.known_md5.is_none()));
    // Parts may end in any order.
    e.on_part(2, PartReply::Sent(ok()), 2.0);
    let next = take_parts(&mut e, 2.0);
    assert_eq!(
        next.iter().map(|j| j.part.index).collect::<Vec<_>>(),
        vec![4]
    );
    for index in [0, 1, 3, 4] {
        e.on_part(index, PartReply::Sent(ok()), 3.0);
    }
    let last = take_parts(&mut e, 3.0);
    assert_eq!(
        (last[0].part.offset, last[0].part.len),
        (5_242_880, 757_120)
    );
    assert_eq!(e.poll(3.0), Step::Wait { until: None });
    e.on_part(5, PartReply::Sent(ok()), 4.0);
    assert_eq!(e.poll(4.0), Step::Finish);
    assert_eq!(e.poll(4.0), Step::Wait { until: None });
    e.on_finish(finished(), 5.0);
    assert_eq!(
        e.poll(5.0),
        Step::Done(Outcome {
            file_id: "7031868222808505913".into(),
            url: "http://h/f0.mp4".into(),
            instant: false,
            resumed: false,
            parts_uploaded: 6,
            parts_skipped: 0,
            bytes_uploaded: size,
        })
    );
}

#[test]
fn progress_is_monotonic_and_ends_at_total_for_each_stage() {
    let size = 3 * MIB + 7;
    let mut e = Engine::new(size, options(2, 0), 1);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    let mut now = 0.0;
    loop {
        now += 10.0;
        match e.poll(now) {
            Step::Part(job) => e.on_part(job.part.index, PartReply::Sent(ok()), now),
            Step::Finish => e.on_finish(finished(), now),
            Step::Done(_) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let reports = drain_progress(&mut e);
    let upload: Vec<_> = reports
        .iter()
        .filter(|p| p.stage == ProgressStage::Upload)
        .collect();
    assert_eq!(upload.len(), 1 + 4, "one at the start, one per part");
    assert!(upload.windows(2).all(|w| w[0].loaded <= w[1].loaded));
    assert_eq!((upload[0].loaded, upload.last().unwrap().loaded), (0, size));
    assert!(upload.iter().all(|p| p.total == size));
    assert!(upload.last().unwrap().bytes_per_second > 0.0);
    let finish: Vec<_> = reports
        .iter()
        .filter(|p| p.stage == ProgressStage::Finish)
        .collect();
    assert_eq!(
        finish.iter().map(|p| p.loaded).collect::<Vec<_>>(),
        vec![0, size]
    );
    // Stages come in order.
    let first_finish = reports
        .iter()
        .position(|p| p.stage == ProgressStage::Finish)
        .unwrap();
    assert!(reports[first_finish..]
        .iter()
        .all(|p| p.stage == ProgressStage::Finish));
}

#[test]
fn instant_upload_resolves_without_parts() {
    let mut e = Engine::new(10, Options::default(), 1);
    e.poll(0.0);
    e.on_init(
        answer(r#"{"code":2,"fileId":"42","url":"http://h/42"}"#),
        1.0,
    );
    let Step::Done(outcome) = e.poll(1.0) else {
        panic!()
    };
    assert!(outcome.instant && !outcome.resumed);
    assert_eq!(
        (
            outcome.file_id.as_str(),
            outcome.parts_uploaded,
            outcome.bytes_uploaded
        ),
        ("42", 0, 0)
    );
    assert!(drain_progress(&mut e).is_empty(), "no upload stage ran");
}

#[test]
fn resume_uses_the_servers_part_size_and_skips_listed_parts() {
    let size = 5 * HALF + 100; // 6 parts of 512 KiB
    let mut e = Engine::new(size, Options::default(), 1);
    assert_eq!(e.poll(0.0), Step::Init { part_size: MIB });
    let listed = serde_json::json!({
        "code": 1,
        "dataSize": HALF,
        "listParts": [
            {"offset": 0, "dataSize": HALF},                                   // trusted: no hash
            {"offset": HALF, "dataSize": HALF, "dataMd5": "aa"},              // to check
            {"offset": 2 * HALF, "dataSize": HALF, "dataSha": "bb"},         // other spelling
            {"offset": 3 * HALF, "dataSize": 1000},                           // not our part: resend
            {"offset": 123, "dataSize": HALF},                                // odd offset: ignored
            {"offset": 5 * HALF, "dataSize": 100},                            // the tail, trusted
        ]
    });
    e.on_init(answer(&listed.to_string()), 1.0);
    let start = drain_progress(&mut e);
    assert_eq!(start.len(), 1);
    assert_eq!(
        (start[0].stage, start[0].loaded, start[0].bytes_per_second),
        (ProgressStage::Upload, HALF + 100, 0.0)
    );

    let jobs = take_parts(&mut e, 1.0);
    let plan: Vec<_> = jobs
        .iter()
        .map(|j| (j.part.offset, j.part.len, j.known_md5.clone()))
        .collect();
    assert_eq!(
        plan,
        vec![
            (HALF, HALF, Some("aa".into())),
            (2 * HALF, HALF, Some("bb".into())),
            (3 * HALF, HALF, None),
            (4 * HALF, HALF, None),
        ]
    );
    e.on_part(1, PartReply::AlreadyStored, 2.0); // local MD5 matched
    e.on_part(2, PartReply::Sent(ok()), 2.0); // local MD5 differed: sent again
    e.on_part(3, PartReply::Sent(ok()), 2.0);
    e.on_part(4, PartReply::Sent(ok()), 2.0);
    assert_eq!(e.poll(2.0), Step::Finish);
    e.on_finish(finished(), 3.0);
    let Step::Done(outcome) = e.poll(3.0) else {
        panic!()
    };
    assert!(outcome.resumed && !outcome.instant);
    assert_eq!(
        (
            outcome.parts_uploaded,
            outcome.parts_skipped,
            outcome.bytes_uploaded
        ),
        (3, 3, 3 * HALF)
    );
    let last_upload = drain_progress(&mut e)
        .into_iter()
        .rfind(|p| p.stage == ProgressStage::Upload);
    assert_eq!(last_upload.unwrap().loaded, size);
}

#[test]
fn resume_with_everything_listed_goes_straight_to_finish() {
    let mut e = Engine::new(MIB, Options::default(), 1);
    e.poll(0.0);
    e.on_init(
        answer(r#"{"code":1,"dataSize":1048576,"listParts":[{"offset":0,"dataSize":1048576}]}"#),
        0.0,
    );
    assert_eq!(e.poll(0.0), Step::Finish);
    e.on_finish(finished(), 0.0);
    let Step::Done(outcome) = e.poll(0.0) else {
        panic!()
    };
    assert_eq!((outcome.parts_uploaded, outcome.parts_skipped), (0, 1));
}

/// A resume whose parts 0 and 1 the server holds with the MD5s remembered
/// for them: the engine starts the first part at once, and finishes only
/// once both are checked.
fn resume_with_two_remembered_parts() -> Engine {
    let mut e = Engine::new(3 * MIB, Options::default(), 1);
    e.poll(0.0);
    let listed = serde_json::json!({
        "code": 1,
        "dataSize": MIB,
        "listParts": [
            {"offset": 0, "dataSize": MIB, "dataMd5": "aa"},
            {"offset": MIB, "dataSize": MIB, "dataMd5": "bb"},
        ]
    });
    e.on_init(answer(&listed.to_string()), 0.0);
    let jobs = take_parts(&mut e, 0.0);
    assert_eq!(jobs.len(), 3);
    e.on_part(0, PartReply::RememberedMatch, 1.0);
    e.on_part(1, PartReply::RememberedMatch, 1.0);
    e.on_part(2, PartReply::Sent(ok()), 2.0);
    e
}

#[test]
fn remembered_parts_are_checked_before_finish() {
    let mut e = resume_with_two_remembered_parts();
    assert_eq!(
        e.poll(2.0),
        Step::Wait { until: None },
        "two checks pending"
    );
    e.on_checked(1, true);
    assert_eq!(e.poll(2.0), Step::Wait { until: None }, "one check pending");
    e.on_checked(1, true); // a repeat is ignored
    assert_eq!(e.poll(2.0), Step::Wait { until: None });
    e.on_checked(0, true);
    assert_eq!(e.poll(3.0), Step::Finish);
    e.on_finish(finished(), 4.0);
    let Step::Done(outcome) = e.poll(4.0) else {
        panic!()
    };
    assert_eq!((outcome.parts_uploaded, outcome.parts_skipped), (1, 2));
    assert!(outcome.resumed);
}

#[test]
fn a_changed_remembered_part_fails_as_stale_and_never_finishes() {
    let mut e = resume_with_two_remembered_parts();
    e.on_checked(0, true);
    e.on_checked(1, false);
    assert_eq!(e.poll(3.0), Step::Failed(stale_file()));
    assert!(crate::cache::is_stale_refusal(&stale_file()));
    // A check that ends first fails the upload even with parts in flight.
    let mut e = Engine::new(3 * MIB, Options::default(), 1);
    e.poll(0.0);
    e.on_init(
        answer(r#"{"code":1,"dataSize":1048576,"listParts":[{"offset":0,"dataSize":1048576,"dataMd5":"aa"}]}"#),
        0.0,
    );
    take_parts(&mut e, 0.0);
    e.on_part(0, PartReply::RememberedMatch, 1.0);
    e.on_checked(0, false);
    assert_eq!(e.poll(1.0), Step::Failed(stale_file()));
    e.on_part(1, PartReply::Sent(ok()), 2.0);
    assert_eq!(e.poll(2.0), Step::Failed(stale_file()));
}

#[test]
fn retryable_failures_back_off_with_full_jitter_then_give_up() {
    let opts = Options {
        retries: 3,
        retry_delay_ms: 100,
        ..Options::default()
    };
    let mut e = Engine::new(10, opts, 7);
    let mut now = 0.0;
    for failure in 1..=3u32 {
        assert_eq!(e.poll(now), Step::Init { part_size: MIB });
        e.on_init(Reply::Network("Failed to fetch".into()), now);
        let Step::Wait { until: Some(until) } = e.poll(now) else {
            panic!("a retry waits")
        };
        let ceiling = 100.0 * 2f64.powi(failure as i32 - 1);
        assert!(
            until >= now && until < now + ceiling,
            "try {failure}: {until} not in [{now}, {now}+{ceiling})"
        );
        assert_eq!(
            e.poll(until - 0.5),
            Step::Wait { until: Some(until) },
            "not before it is due"
        );
        now = until;
    }
    assert_eq!(e.poll(now), Step::Init { part_size: MIB });
    e.on_init(Reply::Network("Failed to fetch".into()), now);
    let Step::Failed(error) = e.poll(now) else {
        panic!()
    };
    assert_eq!(
        (error.code, error.can_retry, error.stage),
        (client_code::NETWORK, true, Stage::Init)
    );
    assert!(error.message.contains("after 4 tries"), "{}", error.message);
    assert!(error.message.contains("Failed to fetch"));
}

#[test]
fn backoff_is_capped() {
    let opts = Options {
        retries: 20,
        retry_delay_ms: 60_000,
        ..Options::default()
    };
    let mut e = Engine::new(10, opts, 3);
    let mut now = 0.0;
    for _ in 0..20 {
        assert_eq!(e.poll(now), Step::Init { part_size: MIB });
        e.on_init(Reply::Timeout, now);
        let Step::Wait { until: Some(until) } = e.poll(now) else {
            panic!()
        };
        assert!(until - now < MAX_RETRY_DELAY_MS as f64);
        now = until;
    }
    e.poll(now);
    e.on_init(Reply::Timeout, now);
    let Step::Failed(error) = e.poll(now) else {
        panic!("21 tries end in an error")
    };
    assert_eq!((error.code, error.can_retry), (client_code::TIMEOUT, true));
    assert!(
        error.message.contains("after 21 tries"),
        "{}",
        error.message
    );
}

#[test]
fn replies_to_requests_not_in_flight_are_ignored() {
    let mut e = Engine::new(10, Options::default(), 1);
    e.on_init(ok(), 0.0);
    assert_eq!(e.poll(0.0), Step::Init { part_size: MIB });
    e.on_init(ok(), 0.0);
    e.on_part(5, PartReply::Sent(ok()), 0.0);
    e.on_finish(finished(), 0.0);
    assert!(matches!(e.poll(0.0), Step::Part(_)));
}

#[test]
fn what_is_retried_and_what_is_not() {
    let run = |reply: Reply| {
        let mut e = Engine::new(10, options(1, 2), 5);
        e.poll(0.0);
        e.on_init(ok(), 0.0);
        let Step::Part(job) = e.poll(0.0) else {
            panic!()
        };
        e.on_part(job.part.index, PartReply::Sent(reply), 0.0);
        e.poll(0.0)
    };
    for transient in [
        answer(r#"{"code":-10004,"canRetry":1}"#),
        Reply::Http(500),
        Reply::Http(503),
        Reply::Http(429),
        Reply::Network("reset".into()),
        Reply::Timeout,
    ] {
        assert!(
            matches!(run(transient.clone()), Step::Wait { until: Some(_) }),
            "{transient:?} is retried"
        );
    }
    let Step::Failed(e) = run(answer(
        r#"{"code":-10006,"canRetry":0,"message":"md5 mismatch"}"#,
    )) else {
        panic!()
    };
    assert_eq!((e.code, e.can_retry, e.stage), (-10006, false, Stage::Part));
    assert!(e.message.contains("md5 mismatch"));
    let Step::Failed(e) = run(answer(r#"{"code":-10005}"#)) else {
        panic!()
    };
    assert_eq!(
        (e.code, e.can_retry),
        (-10005, false),
        "no canRetry means no retry"
    );
    let Step::Failed(e) = run(Reply::Http(404)) else {
        panic!()
    };
    assert_eq!((e.code, e.can_retry), (client_code::BAD_ANSWER, false));
    assert!(e.message.contains("HTTP 404"));
    let Step::Failed(e) = run(Reply::NotUnderstood("text/html starting \"<html>\"".into())) else {
        panic!()
    };
    assert_eq!(e.code, client_code::BAD_ANSWER);
    assert!(e.message.contains("text/html"));
}

#[test]
fn exhausted_server_retries_keep_the_servers_code() {
    let mut e = Engine::new(10, options(1, 1), 5);
    for now in [0.0, 1e9] {
        assert_eq!(e.poll(now), Step::Init { part_size: MIB });
        e.on_init(
            answer(r#"{"code":-10004,"canRetry":1,"message":"disk busy"}"#),
            now,
        );
    }
    let Step::Failed(error) = e.poll(1e9) else {
        panic!()
    };
    assert_eq!(
        (error.code, error.can_retry, error.stage),
        (-10004, true, Stage::Init)
    );
}

#[test]
fn a_failed_part_is_retried_on_its_own_while_others_go_on() {
    let mut e = Engine::new(4 * MIB, options(2, 1), 9);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    let jobs = take_parts(&mut e, 0.0);
    assert_eq!(jobs.len(), 2);
    e.on_part(0, PartReply::Sent(Reply::Http(500)), 0.0);
    e.on_part(1, PartReply::Sent(ok()), 0.0);
    // Part 0 waits for its backoff; part 2 and 3 go now.
    let now_jobs = take_parts(&mut e, 0.0);
    assert_eq!(
        now_jobs.iter().map(|j| j.part.index).collect::<Vec<_>>(),
        vec![2, 3]
    );
    e.on_part(2, PartReply::Sent(ok()), 0.0);
    let Step::Wait { until: Some(due) } = e.poll(0.0) else {
        panic!()
    };
    let Step::Part(retry) = e.poll(due) else {
        panic!()
    };
    assert_eq!(retry.part.index, 0);
    e.on_part(0, PartReply::Sent(Reply::Http(500)), due);
    let Step::Failed(error) = e.poll(due) else {
        panic!("retries: 1 means two tries")
    };
    assert_eq!(
        (error.code, error.can_retry, error.stage),
        (client_code::BAD_ANSWER, true, Stage::Part)
    );
    assert!(
        error.message.contains("HTTP 500 after 2 tries"),
        "{}",
        error.message
    );
}

#[test]
fn abort_stops_everything_and_late_replies_are_ignored() {
    let mut e = Engine::new(3 * MIB, options(2, 0), 1);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    take_parts(&mut e, 0.0);
    e.abort();
    assert_eq!(e.poll(0.0), Step::Aborted);
    e.on_part(0, PartReply::Sent(ok()), 0.0);
    e.on_finish(finished(), 0.0);
    assert_eq!(e.poll(0.0), Step::Aborted);
}

#[test]
fn answers_that_make_no_sense_are_refused() {
    let init = |json: &str| {
        let mut e = Engine::new(10, Options::default(), 1);
        e.poll(0.0);
        e.on_init(answer(json), 0.0);
        e.poll(0.0)
    };
    for json in [
        r#"{"code":2}"#,
        r#"{"code":2,"fileId":"","url":"u"}"#,
        r#"{"code":7}"#,
        r#"{"code":1,"dataSize":0}"#,
    ] {
        let Step::Failed(error) = init(json) else {
            panic!("{json}")
        };
        assert_eq!(
            (error.code, error.stage),
            (client_code::BAD_ANSWER, Stage::Init),
            "{json}"
        );
    }
    // Finish without a fileId.
    let mut e = Engine::new(10, Options::default(), 1);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    e.poll(0.0);
    e.on_part(0, PartReply::Sent(ok()), 0.0);
    assert_eq!(e.poll(0.0), Step::Finish);
    e.on_finish(ok(), 0.0);
    let Step::Failed(error) = e.poll(0.0) else {
        panic!()
    };
    assert_eq!(
        (error.code, error.stage),
        (client_code::BAD_ANSWER, Stage::Finish)
    );
}

#[test]
fn finish_failures_follow_the_same_rules() {
    let mut e = Engine::new(10, options(1, 1), 1);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    e.poll(0.0);
    e.on_part(0, PartReply::Sent(ok()), 0.0);
    assert_eq!(e.poll(0.0), Step::Finish);
    e.on_finish(Reply::Timeout, 0.0);
    let Step::Wait { until: Some(due) } = e.poll(0.0) else {
        panic!()
    };
    assert_eq!(e.poll(due), Step::Finish);
    e.on_finish(
        answer(r#"{"code":-10003,"canRetry":0,"message":"sha mismatch"}"#),
        due,
    );
    let Step::Failed(error) = e.poll(due) else {
        panic!()
    };
    assert_eq!(
        (error.code, error.can_retry, error.stage),
        (-10003, false, Stage::Finish)
    );
}

#[test]
fn files_over_four_gib_keep_exact_offsets() {
    let size = 5 * 1024 * MIB + 3;
    let mut e = Engine::new(size, options(16, 0), 1);
    e.poll(0.0);
    e.on_init(ok(), 0.0);
    let mut sent = 0u64;
    let mut last = None;
    loop {
        match e.poll(0.0) {
            Step::Part(job) => {
                assert_eq!(job.part.offset, job.part.index * MIB);
                sent += job.part.len;
                last = Some(job.part);
                e.on_part(job.part.index, PartReply::Sent(ok()), 0.0);
            }
            Step::Finish => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, size);
    assert_eq!(
        last.unwrap(),
        Part {
            index: 5 * 1024,
            offset: 5 * 1024 * MIB,
            len: 3
        }
    );
}

#[test]
fn listed_parts_outside_the_file_are_ignored() {
    let mut e = Engine::new(MIB + 1, Options::default(), 1);
    e.poll(0.0);
    let json = Answer {
        code: 1,
        data_size: Some(MIB),
        list_parts: Some(vec![ListedPart {
            offset: 7 * MIB,
            data_size: MIB,
            data_md5: None,
        }]),
        ..Answer::default()
    }
    .to_json();
    e.on_init(answer(&json), 0.0);
    assert_eq!(take_parts(&mut e, 0.0).len(), 2);
}

fn expired() -> Reply {
    answer(r#"{"code":-10002,"canRetry":0,"message":"signature has expired"}"#)
}

/// An engine past InitUploadUGC, with the given options.
fn started(size: u64, opts: Options) -> Engine {
    let mut e = Engine::new(size, opts, 3);
    assert_eq!(e.poll(0.0), Step::Init { part_size: MIB });
    e.on_init(ok(), 0.0);
    e
}

fn indexes(jobs: &[PartJob]) -> Vec<u64> {
    jobs.iter().map(|j| j.part.index).collect()
}

#[test]
fn a_stall_halves_the_parts_in_flight_once_per_round_then_they_grow_back() {
    let mut e = started(16 * MIB, options(4, 5));
    assert_eq!(indexes(&take_parts(&mut e, 0.0)), vec![0, 1, 2, 3]);
    // The round of four shares the link: two of them stall.
    e.on_part(0, PartReply::Sent(Reply::Timeout), 10.0);
    e.on_part(1, PartReply::Sent(Reply::Network("reset".into())), 11.0);
    // One cut for the round: 2 in flight, and 2 are.
    assert!(take_parts(&mut e, 11.0).is_empty(), "limit 2, parts 2 and 3 in flight");
    e.on_part(2, PartReply::Sent(ok()), 12.0);
    assert_eq!(indexes(&take_parts(&mut e, 12.0)), vec![4], "one in its place");
    // A stall of a part started after the cut cuts again.
    e.on_part(4, PartReply::Sent(Reply::Timeout), 13.0);
    assert!(take_parts(&mut e, 13.0).is_empty(), "limit 1, part 3 in flight");
    e.on_part(3, PartReply::Sent(Reply::Network("reset".into())), 14.0);
    // Started before the last cut: no second cut (and never below 1).
    let mut now = 14.0;
    let mut in_flight = indexes(&take_parts(&mut e, now));
    assert_eq!(in_flight, vec![5], "one at a time; retries wait for their backoff");
    // Growth: one more after as many successes in a row as are allowed.
    let mut seen = Vec::new();
    for _ in 0..8 {
        now += 60_000.0; // past any backoff
        let index = in_flight.remove(0);
        e.on_part(index, PartReply::Sent(ok()), now);
        in_flight.extend(indexes(&take_parts(&mut e, now)));
        seen.push(in_flight.len());
    }
    assert_eq!(seen, vec![2, 2, 3, 3, 3, 4, 4, 4], "back to concurrency, never above");
}

#[test]
fn growth_stops_at_the_concurrency_option_and_server_errors_do_not_cut() {
    let mut e = started(12 * MIB, options(2, 5));
    assert_eq!(take_parts(&mut e, 0.0).len(), 2);
    // An overloaded server is not a thin link.
    e.on_part(0, PartReply::Sent(Reply::Http(503)), 1.0);
    assert_eq!(indexes(&take_parts(&mut e, 1.0)), vec![2]);
    for index in [1, 2] {
        e.on_part(index, PartReply::Sent(ok()), 2.0);
    }
    assert_eq!(take_parts(&mut e, 2.0).len(), 2, "still 2, never more");
}

#[test]
fn offline_waits_without_spending_retries_and_goes_on_when_online() {
    // No retries at all: offline failures must not need any.
    let mut e = started(3 * MIB, options(2, 0));
    drain_progress(&mut e);
    assert_eq!(indexes(&take_parts(&mut e, 0.0)), vec![0, 1]);
    e.set_online(false, 5.0);
    let report = drain_progress(&mut e);
    assert_eq!(report.len(), 1);
    assert_eq!(
        (report[0].stage, report[0].waiting),
        (ProgressStage::Upload, Some(Waiting::Offline))
    );
    // Both requests fail on the network while offline.
    e.on_part(0, PartReply::Sent(Reply::Network("Failed to fetch".into())), 6.0);
    e.on_part(1, PartReply::Sent(Reply::Timeout), 7.0);
    // However long it lasts, nothing starts, nothing fails, no timer.
    for now in [8.0, 60_000.0, 3_600_000.0] {
        assert_eq!(e.poll(now), Step::Wait { until: None });
    }
    assert!(drain_progress(&mut e).is_empty(), "waiting is reported once");
    e.set_online(true, 3_600_001.0);
    let back = drain_progress(&mut e);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].waiting, None);
    // The same parts go again, and the link was not judged by the spell.
    assert_eq!(indexes(&take_parts(&mut e, 3_600_001.0)), vec![0, 1]);
    for index in [0, 1] {
        e.on_part(index, PartReply::Sent(ok()), 3_600_002.0);
    }
    assert_eq!(indexes(&take_parts(&mut e, 3_600_002.0)), vec![2]);
    e.on_part(2, PartReply::Sent(ok()), 3_600_003.0);
    assert_eq!(e.poll(3_600_003.0), Step::Finish);
    e.on_finish(finished(), 3_600_004.0);
    assert!(matches!(e.poll(3_600_004.0), Step::Done(_)));
}

#[test]
fn offline_before_init_is_reported_on_the_upload_stage_and_abort_ends_the_wait() {
    let mut e = Engine::new(10, Options::default(), 1);
    e.set_online(false, 0.0);
    assert_eq!(e.poll(0.0), Step::Wait { until: None });
    let report = drain_progress(&mut e);
    assert_eq!(
        report,
        vec![Progress {
            stage: ProgressStage::Upload,
            loaded: 0,
            total: 10,
            bytes_per_second: 0.0,
            waiting: Some(Waiting::Offline),
        }]
    );
    e.abort();
    assert_eq!(e.poll(1.0), Step::Aborted);
    assert!(drain_progress(&mut e).is_empty());
}

#[test]
fn an_instant_upload_after_waiting_closes_the_upload_stage() {
    let mut e = Engine::new(10, Options::default(), 1);
    e.set_online(false, 0.0);
    e.set_online(true, 1.0);
    assert_eq!(e.poll(1.0), Step::Init { part_size: MIB });
    e.on_init(answer(r#"{"code":2,"fileId":"4","url":"http://h/4"}"#), 2.0);
    assert!(matches!(e.poll(2.0), Step::Done(_)));
    let last = drain_progress(&mut e).pop().unwrap();
    assert_eq!((last.stage, last.loaded, last.waiting), (ProgressStage::Upload, 10, None));
}

#[test]
fn a_backoff_with_nothing_in_flight_is_reported_as_waiting_for_a_retry() {
    let mut e = started(MIB, options(1, 3));
    drain_progress(&mut e);
    take_parts(&mut e, 0.0);
    e.on_part(0, PartReply::Sent(Reply::Http(500)), 1.0);
    let Step::Wait { until: Some(due) } = e.poll(1.0) else {
        panic!()
    };
    let waiting: Vec<_> = drain_progress(&mut e).iter().map(|p| p.waiting).collect();
    assert_eq!(waiting, vec![Some(Waiting::Retry)]);
    assert!(matches!(e.poll(due), Step::Part(_)));
    let waiting: Vec<_> = drain_progress(&mut e).iter().map(|p| p.waiting).collect();
    assert_eq!(waiting, vec![None], "the retry is under way");
}

#[test]
fn bytes_sent_inside_parts_move_progress_at_most_every_quarter_second_and_never_back() {
    let mut e = started(2 * MIB, options(2, 1));
    drain_progress(&mut e);
    take_parts(&mut e, 0.0);
    let mut now = 0.0;
    for step in 1..=40u64 {
        now += 50.0;
        e.on_part_sent(0, step * 10_000, now);
        e.on_part_sent(1, step * 5_000, now);
    }
    let reports = drain_progress(&mut e);
    assert_eq!(reports.len(), 8, "2 s of sending, one report per 250 ms");
    assert_eq!(reports.last().unwrap().loaded, 40 * 10_000 + 39 * 5_000);
    assert!(reports.windows(2).all(|w| w[0].loaded < w[1].loaded));
    assert!(reports.iter().all(|p| p.bytes_per_second > 0.0));
    // Part 0 fails: its bytes are not taken back; they count again only
    // once more than they are sent.
    e.on_part(0, PartReply::Sent(Reply::Network("reset".into())), now);
    e.on_part_sent(1, 300_000, now + 300.0);
    let held = drain_progress(&mut e);
    assert!(held.iter().all(|p| p.loaded == 40 * 15_000), "{held:?}");
    // A part's end reports at once and counts its whole length.
    e.on_part(1, PartReply::Sent(ok()), now + 301.0);
    assert_eq!(drain_progress(&mut e).last().unwrap().loaded, MIB);
    let Step::Wait { until: Some(due) } = e.poll(now + 301.0) else {
        panic!()
    };
    assert_eq!(indexes(&take_parts(&mut e, due)), vec![0]);
    e.on_part_sent(0, 1_000, due + 1_000.0);
    assert_eq!(drain_progress(&mut e).last().unwrap().loaded, MIB + 1_000);
}

#[test]
fn an_expired_signature_is_refreshed_once_and_the_requests_sent_again() {
    let mut e = started(4 * MIB, options(2, 0));
    assert_eq!(indexes(&take_parts(&mut e, 0.0)), vec![0, 1]);
    e.on_part(0, PartReply::Sent(ok()), 1.0);
    assert_eq!(indexes(&take_parts(&mut e, 1.0)), vec![2]);
    // The signature expires: part 1 is refused; the engine asks for a new one.
    e.on_part(1, PartReply::Sent(expired()), 2.0);
    assert_eq!(e.poll(2.0), Step::Sign);
    assert_eq!(e.poll(2.0), Step::Wait { until: None }, "nothing starts meanwhile");
    // Part 2 was sent with the old signature too: sent again, no new ask.
    e.on_part(2, PartReply::Sent(expired()), 3.0);
    assert_eq!(e.poll(3.0), Step::Wait { until: None });
    assert!(
        drain_progress(&mut e).iter().all(|p| p.waiting.is_none()),
        "asking for a signature is not waiting for the network"
    );
    e.on_signature(4.0);
    assert_eq!(indexes(&take_parts(&mut e, 4.0)), vec![1, 2]);
    e.on_part(1, PartReply::Sent(ok()), 5.0);
    e.on_part(2, PartReply::Sent(ok()), 5.0);
    assert_eq!(indexes(&take_parts(&mut e, 5.0)), vec![3]);
    e.on_part(3, PartReply::Sent(ok()), 6.0);
    // The new one worked; when it expires as well, at Finish, it is
    // refreshed again: each refresh followed a success.
    assert_eq!(e.poll(6.0), Step::Finish);
    e.on_finish(expired(), 7.0);
    assert_eq!(e.poll(7.0), Step::Sign);
    e.on_signature(8.0);
    assert_eq!(e.poll(8.0), Step::Finish);
    e.on_finish(finished(), 9.0);
    let Step::Done(outcome) = e.poll(9.0) else {
        panic!()
    };
    assert_eq!(outcome.parts_uploaded, 4);
}

#[test]
fn a_fresh_signature_refused_at_once_fails_for_good() {
    let mut e = started(2 * MIB, options(1, 5));
    take_parts(&mut e, 0.0);
    e.on_part(0, PartReply::Sent(ok()), 1.0);
    take_parts(&mut e, 1.0);
    e.on_part(1, PartReply::Sent(expired()), 2.0);
    assert_eq!(e.poll(2.0), Step::Sign);
    e.on_signature(3.0);
    assert_eq!(indexes(&take_parts(&mut e, 3.0)), vec![1]);
    e.on_part(1, PartReply::Sent(expired()), 4.0);
    let Step::Failed(error) = e.poll(4.0) else {
        panic!("a second -10002 in a row is final")
    };
    assert_eq!((error.code, error.stage, error.can_retry), (-10002, Stage::Part, false));
    assert!(error.message.contains("expired"), "{}", error.message);
    assert_eq!(e.poll(5.0), Step::Failed(error), "no third ask");
}

#[test]
fn a_signature_refused_by_init_is_not_refreshed() {
    let mut e = Engine::new(10, Options::default(), 1);
    e.poll(0.0);
    e.on_init(expired(), 1.0);
    let Step::Failed(error) = e.poll(1.0) else {
        panic!()
    };
    assert_eq!((error.code, error.stage), (-10002, Stage::Init));
}
