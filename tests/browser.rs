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
use wasm_bindgen_futures::{future_to_promise, JsFuture};
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
    let upload = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|file, options| {
        future_to_promise(web::upload(file, options))
    });
    let hash_file = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(|file, options| {
        future_to_promise(web::hash_file(file, options))
    });
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
    set(&env, "faultServer", &address!("UGC_TEST_FAULT_SERVER").into());
    set(&env, "blackhole", &address!("UGC_TEST_BLACKHOLE").into());
    set(&env, "unreachable", &address!("UGC_TEST_UNREACHABLE").into());
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
    hash_reports_progress_every_4_mib => "hashReportsProgressEvery4MiB",
    upload_one_byte => "uploadOneByte",
    upload_exactly_one_mib => "uploadExactlyOneMiB",
    upload_2_5_mib_in_512_kib_parts => "uploadTwoAndAHalfMiBInHalfMiBParts",
    upload_20_mib_concurrency_1 => "uploadTwentyMiBConcurrency1",
    upload_20_mib_concurrency_8 => "uploadTwentyMiBConcurrency8",
    same_content_again_is_instant => "sameContentAgainIsInstant",
    abort_then_resume => "abortThenResume",
    abort_while_hashing => "abortWhileHashing",
    already_aborted_signal => "alreadyAbortedSignal",
    abort_during_a_request_with_a_custom_reason => "abortDuringARequestWithACustomReason",
    callers_timeout_signal_is_an_abort_not_a_timeout => "callersTimeoutSignalIsAnAbortNotATimeout",
    faulty_server_completes => "faultyServerCompletes",
    bad_input => "badInput",
    get_signature_failures => "getSignatureFailures",
    get_signature_gets_the_info => "getSignatureGetsTheInfo",
    server_refuses_the_signature => "serverRefusesTheSignature",
    html_page_as_answer => "htmlPageAsAnswer",
    unreachable_endpoint => "unreachableEndpoint",
    endpoint_that_never_answers => "endpointThatNeverAnswers",
}
