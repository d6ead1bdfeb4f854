//! The wasm module in a real browser against the real `vod-ugc-server`.
//!
//! Run by `scripts/test-browser.sh`, which starts the servers on loopback
//! and passes their addresses at build time. The cases themselves are in
//! `tests/browser/cases.js`, written as a page would use the API; each test
//! here runs one of them with this build's `upload` and `hashFile`.
#![cfg(target_arch = "wasm32")]

use js_sys::{Object, Promise, Reflect};
use vod_ugc_upload::web;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/browser/cases.js")]
extern "C" {
    #[wasm_bindgen(js_name = runCase)]
    fn run_case(name: &str, api: &JsValue, env: &JsValue) -> Promise;
}

/// A server address given by the test script.
macro_rules! address {
    ($name:literal) => {
        option_env!($name).expect(concat!(
            $name,
            " is not set: run the browser tests with scripts/test-browser.sh, which starts the servers"
        ))
    };
}

fn set(target: &JsValue, name: &str, value: &JsValue) {
    Reflect::set(target, &JsValue::from_str(name), value).unwrap();
}

/// `{upload, hashFile}` as the page sees them, backed by this build.
fn api() -> JsValue {
    let api: JsValue = Object::new().into();
    let upload = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(web::upload);
    let hash_file = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(web::hash_file);
    set(&api, "upload", upload.as_ref());
    set(&api, "hashFile", hash_file.as_ref());
    // The functions live as long as the page: one test each.
    upload.forget();
    hash_file.forget();
    api
}

fn env() -> JsValue {
    let env: JsValue = Object::new().into();
    set(&env, "server", &address!("UGC_TEST_SERVER").into());
    set(
        &env,
        "faultServer",
        &address!("UGC_TEST_FAULT_SERVER").into(),
    );
    set(&env, "blackhole", &address!("UGC_TEST_BLACKHOLE").into());
    set(
        &env,
        "unreachable",
        &address!("UGC_TEST_UNREACHABLE").into(),
    );
    env
}

async fn run(name: &str) {
    if let Err(error) = JsFuture::from(run_case(name, &api(), &env())).await {
        let message = Reflect::get(&error, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| format!("{error:?}"));
        panic!("{name}: {message}");
    }
}

macro_rules! cases {
    ($($test:ident => $case:literal,)*) => {
        $(
            #[wasm_bindgen_test]
            async fn $test() {
                run($case).await;
            }
        )*
    };
}

cases! {
    hash_matches_webcrypto => "hashMatchesWebCrypto",
    hash_matches_webcrypto_at_many_sizes => "hashMatchesWebCryptoAtManySizes",
    hash_reports_progress_every_4_mib => "hashReportsProgressEvery4MiB",
    hash_and_upload_without_the_read_worker => "hashAndUploadWithoutTheReadWorker",
    stream_read_that_fails_goes_on_with_slices => "streamReadThatFailsGoesOnWithSlices",
    hash_in_the_worker_matches_the_page => "hashInTheWorkerMatchesThePage",
    worker_that_fails_midway_hashes_on_the_page => "workerThatFailsMidwayHashesOnThePage",
    file_that_cannot_be_read_is_reported => "fileThatCannotBeReadIsReported",
    resume_with_the_part_size_the_server_fixed => "resumeWithThePartSizeTheServerFixed",
    upload_one_byte => "uploadOneByte",
    relative_endpoint_is_resolved_against_the_page => "relativeEndpointIsResolvedAgainstThePage",
    upload_exactly_one_mib => "uploadExactlyOneMiB",
    upload_2_5_mib_in_512_kib_parts => "uploadTwoAndAHalfMiBInHalfMiBParts",
    upload_20_mib_concurrency_1 => "uploadTwentyMiBConcurrency1",
    upload_20_mib_concurrency_8 => "uploadTwentyMiBConcurrency8",
    same_content_again_is_instant => "sameContentAgainIsInstant",
    abort_then_resume => "abortThenResume",
    cache_skips_hashing_on_resume => "cacheSkipsHashingOnResume",
    changed_in_place_is_rehashed => "changedInPlaceIsRehashed",
    changed_in_place_found_at_finish => "changedInPlaceFoundAtFinish",
    cache_false_and_blobs_hash_again => "cacheFalseAndBlobsHashAgain",
    instant_from_a_stale_entry_is_not_trusted => "instantFromAStaleEntryIsNotTrusted",
    abort_while_hashing => "abortWhileHashing",
    abort_while_hashing_in_the_worker_stops_it => "abortWhileHashingInTheWorkerStopsIt",
    already_aborted_signal => "alreadyAbortedSignal",
    abort_during_a_request_with_a_custom_reason => "abortDuringARequestWithACustomReason",
    callers_timeout_signal_is_an_abort_not_a_timeout => "callersTimeoutSignalIsAnAbortNotATimeout",
    faulty_server_completes => "faultyServerCompletes",
    bad_input => "badInput",
    get_signature_failures => "getSignatureFailures",
    get_signature_gets_the_info => "getSignatureGetsTheInfo",
    server_refuses_the_signature => "serverRefusesTheSignature",
    an_expired_signature_is_renewed_once => "anExpiredSignatureIsRenewedOnce",
    a_second_expired_signature_fails_for_good => "aSecondExpiredSignatureFailsForGood",
    html_page_as_answer => "htmlPageAsAnswer",
    unreachable_endpoint => "unreachableEndpoint",
    endpoint_that_never_answers => "endpointThatNeverAnswers",
}

/// The core SHA-1 (its `simd128` path: the wasm build enables it) against
/// RustCrypto's `sha1` compiled to wasm: every length to 200 bytes, around
/// block boundaries, random lengths, random splits between `update` calls.
#[wasm_bindgen_test]
fn core_sha1_matches_rustcrypto() {
    use sha1::Digest;
    use vod_ugc_upload::hash::Sha1;

    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let data: Vec<u8> = (0..300_000).map(|_| next() as u8).collect();
    let reference = |bytes: &[u8]| -> [u8; 20] { sha1::Sha1::digest(bytes).into() };

    let mut lengths: Vec<usize> = (0..=200).collect();
    for blocks in 1..=64 {
        lengths.extend([64 * blocks - 1, 64 * blocks, 64 * blocks + 1]);
    }
    for _ in 0..200 {
        lengths.push(next() as usize % data.len());
    }
    for (round, &len) in lengths.iter().enumerate() {
        let start = next() as usize % 64;
        let message = &data[start..(start + len).min(data.len())];
        assert_eq!(
            Sha1::digest(message),
            reference(message),
            "{} bytes",
            message.len()
        );
        if round % 2 == 0 {
            let mut hasher = Sha1::new();
            let mut at = 0;
            while at < message.len() {
                let step = match next() % 3 {
                    0 => next() as usize % 3,
                    1 => next() as usize % 130,
                    _ => next() as usize % (message.len() - at + 1),
                };
                let end = (at + step).min(message.len());
                hasher.update(&message[at..end]);
                at = end;
            }
            assert_eq!(
                hasher.finalize(),
                reference(message),
                "{} bytes in pieces",
                message.len()
            );
        }
    }
}

/// The core MD5 (one message, and four side by side in `simd128` lanes, as
/// the upload computes the parts' MD5s) against RustCrypto's `md-5`
/// compiled to wasm.
#[wasm_bindgen_test]
fn core_md5_matches_rustcrypto() {
    use md5::Digest;
    use vod_ugc_upload::hash::md5::digest_x4;
    use vod_ugc_upload::hash::{Md5, PartMd5s};
    use vod_ugc_upload::plan::PartPlan;

    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..600_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let reference = |bytes: &[u8]| -> [u8; 16] { md5::Md5::digest(bytes).into() };

    for len in (0..=200).chain([255, 256, 4096, 65_537, 150_000]) {
        assert_eq!(
            Md5::digest(&data[..len]),
            reference(&data[..len]),
            "{len} bytes"
        );
        let messages: [&[u8]; 4] = core::array::from_fn(|j| &data[j * 150_000..j * 150_000 + len]);
        let digests = digest_x4(messages);
        for (j, message) in messages.iter().enumerate() {
            assert_eq!(digests[j], reference(message), "{len} bytes, lane {j}");
        }
    }
    for (size, part_size, step) in [
        (600_000u64, 65_536u64, 4 * 65_536usize),
        (600_000, 65_536, 100_000),
        (600_000, 1000, 7),
    ] {
        let mut md5s = PartMd5s::new(size, part_size);
        for chunk in data[..size as usize].chunks(step) {
            md5s.update(chunk);
        }
        for part in PartPlan::fixed_by_server(size, part_size).unwrap().parts() {
            let bytes = &data[part.offset as usize..part.end() as usize];
            assert_eq!(md5s.get(&part), Some(reference(bytes)), "{part:?}");
        }
    }
}
