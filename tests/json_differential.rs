//! The JSON reader (`vod_ugc_upload::json`) against `serde_json`, on
//! generated protocol answers and on mutations of them: both give the same
//! value, or both refuse the text. Every input is also read as an answer
//! (`Answer::parse`, which turns numbers into integers) within a time
//! bound, so that a number like `0e-2000000000` can never stall an upload.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Number, Value as Serde};
use vod_ugc_upload::json::{self, Value};
use vod_ugc_upload::protocol::Answer;

/// Far above what any input here needs (microseconds), far below a hang.
const BOUND: Duration = Duration::from_millis(500);

/// Our value as `serde_json` sees it: a repeated name keeps its last
/// value, as `serde_json`'s map does. `Err` when a number is out of
/// `f64`'s range, which `serde_json` refuses and we keep as text.
fn to_serde(value: &Value) -> Result<Serde, String> {
    Ok(match value {
        Value::Null => Serde::Null,
        Value::Bool(b) => Serde::Bool(*b),
        Value::Number(text) => {
            Serde::Number(serde_json::from_str::<Number>(text).map_err(|e| e.to_string())?)
        }
        Value::String(text) => Serde::String(text.to_string()),
        Value::Array(items) => Serde::Array(items.iter().map(to_serde).collect::<Result<_, _>>()?),
        Value::Object(members) => {
            let mut map = Map::new();
            for (key, value) in members {
                map.insert(key.to_string(), to_serde(value)?);
            }
            Serde::Object(map)
        }
    })
}

/// Every number of a value, as written.
fn numbers<'a>(value: &Value<'a>, out: &mut Vec<&'a str>) {
    match value {
        Value::Number(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|v| numbers(v, out)),
        Value::Object(members) => members.iter().for_each(|(_, v)| numbers(v, out)),
        _ => {}
    }
}

/// The differential check of one input.
fn check(text: &[u8]) -> Result<(), TestCaseError> {
    let started = Instant::now();
    let ours = json::parse(text);
    let answer = Answer::parse(text);
    // The integer reading of every number, as the answer's fields use it.
    let mut all = Vec::new();
    if let Some(value) = &ours {
        numbers(value, &mut all);
    }
    let integers: Vec<Option<i64>> = all.iter().map(|n| Value::Number(n).as_i64()).collect();
    let elapsed = started.elapsed();
    prop_assert!(
        elapsed < BOUND,
        "{elapsed:?} for {:?}",
        String::from_utf8_lossy(text)
    );

    let theirs = serde_json::from_slice::<Serde>(text);
    match (&ours, &theirs) {
        (Some(ours), Ok(theirs)) => {
            prop_assert_eq!(&to_serde(ours).map_err(TestCaseError::fail)?, theirs)
        }
        (None, Err(_)) => {}
        (Some(ours), Err(error)) => {
            // serde_json refuses numbers beyond f64 (an implementation
            // limit RFC 8259 allows); we keep numbers as text.
            prop_assert!(
                error.to_string().starts_with("number out of range") && to_serde(ours).is_err(),
                "we accept what serde_json refuses ({error}): {:?}",
                String::from_utf8_lossy(text)
            );
        }
        (None, Ok(theirs)) => {
            return Err(TestCaseError::fail(format!(
                "we refuse what serde_json reads as {theirs}: {:?}",
                String::from_utf8_lossy(text)
            )))
        }
    }
    // An integer is what serde_json reads, and every integer serde_json
    // reads in i64 is one for us too.
    for (text, integer) in all.iter().zip(&integers) {
        let Ok(number) = serde_json::from_str::<Number>(text) else {
            continue;
        };
        if let Some(n) = integer {
            prop_assert_eq!(number.as_f64(), Some(*n as f64), "{}", text);
        }
        if let Some(n) = number.as_i64() {
            prop_assert_eq!(*integer, Some(n), "{}", text);
        }
    }
    if let Some(answer) = answer {
        prop_assert!(matches!(ours, Some(Value::Object(_))));
        prop_assert_eq!(
            Some(answer.code),
            ours.as_ref().and_then(|v| v.get("code")?.as_i64())
        );
    }
    Ok(())
}

/// Numbers as servers write them, and as they might: huge, tiny, with
/// exponents far beyond any integer.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        (
            "-?(0|[1-9][0-9]{0,24})",
            proptest::option::of("[0-9]{1,20}"),
            proptest::option::of(("[eE]", "[+-]?", "[0-9]{1,12}")),
        )
            .prop_map(|(whole, fraction, exponent)| {
                let mut n = whole;
                if let Some(f) = fraction {
                    n = format!("{n}.{f}");
                }
                if let Some((e, sign, digits)) = exponent {
                    n = format!("{n}{e}{sign}{digits}");
                }
                n
            }),
    ]
}

/// Strings with escapes, control characters, non-ASCII and surrogates.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        r#""([a-z0-9 ]|\\[nrtbf/\\"]|\\u[0-9a-fA-F]{4}|\\u[dD][89abAB][0-9a-f]{2}\\u[dD][c-fC-F][0-9a-f]{2}|é|😀)*""#,
    ]
}

/// A JSON value in the answers' vocabulary.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number(),
        string(),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((string(), inner), 0..6).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// An answer of one of the three calls, fields in any order, some of the
/// wrong kind, with odd whitespace.
fn answer() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        number().prop_map(|n| format!("\"code\":{n}")),
        string().prop_map(|s| format!("\"message\":{s}")),
        value().prop_map(|v| format!("\"codeDesc\":{v}")),
        prop_oneof![
            Just("0".to_owned()),
            Just("1".to_owned()),
            Just("true".to_owned()),
            number()
        ]
        .prop_map(|v| format!("\"canRetry\":{v}")),
        prop_oneof![number(), string()].prop_map(|v| format!("\"fileId\":{v}")),
        string().prop_map(|v| format!("\"url\":{v}")),
        prop_oneof![number(), string()].prop_map(|v| format!("\"dataSize\":{v}")),
        prop::collection::vec((number(), number(), string()), 0..5).prop_map(|parts| {
            let parts: Vec<String> = parts
                .into_iter()
                .map(|(o, s, m)| format!("{{\"offset\":{o},\"dataSize\":{s},\"dataMd5\":{m}}}"))
                .collect();
            format!("\"listParts\":[{}]", parts.join(","))
        }),
        (string(), value()).prop_map(|(k, v)| format!("{k}:{v}")),
    ];
    (
        prop::collection::vec((field, "[ \t\r\n]{0,2}"), 0..8),
        "[ \t\r\n]{0,2}",
    )
        .prop_map(|(fields, tail)| {
            let fields: Vec<String> = fields
                .into_iter()
                .map(|(f, space)| format!("{space}{f}"))
                .collect();
            format!("{{{}}}{tail}", fields.join(","))
        })
}

/// One edit of a text: the kind of damage a proxy, a truncation or a
/// buggy server does.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, u8),
    Replace(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let byte = prop_oneof![
        prop::sample::select(b"{}[]:,\"\\-+.eE0123456789 \ntfnul\x00\x1f\x7f".to_vec()),
        any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Edit::Replace(at, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for edit in edits {
        let len = bytes.len();
        match *edit {
            Edit::Insert(at, b) => bytes.insert(at % (len + 1), b),
            Edit::Replace(at, b) if len > 0 => bytes[at % len] = b,
            Edit::Remove(at) if len > 0 => {
                bytes.remove(at % len);
            }
            Edit::Truncate(at) => bytes.truncate(at % (len + 1)),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_answers(text in answer()) {
        check(text.as_bytes())?;
    }

    #[test]
    fn generated_values(text in value()) {
        check(text.as_bytes())?;
    }

    #[test]
    fn mutated_answers(text in answer(), edits in prop::collection::vec(edit(), 1..4)) {
        check(&apply(&text, &edits))?;
    }
}

/// Inputs found by hand: the exponents that once spun for seconds, the
/// nesting limit on both sides of it, and numbers serde_json refuses.
#[test]
fn known_cases() {
    let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
    let mut texts: Vec<String> = [
        r#"{"code":0e-2000000000}"#,
        r#"{"code":0e2000000000}"#,
        r#"{"code":-0.0e-99999999999999999999}"#,
        r#"{"code":1e-2000000000}"#,
        r#"{"code":10e-1,"dataSize":"0E+999999999999"}"#,
        r#"{"code":1e400}"#,
        r#"{"code":0,"x":-1e400}"#,
        r#"{"code":0,"code":1}"#,
        r#"{"a":"\ud800"}"#,
        r#"{"a":"\udc00\ud800"}"#,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    texts.extend((126..=130).map(nested));
    for text in &texts {
        check(text.as_bytes()).unwrap_or_else(|e| panic!("{text:.60}: {e}"));
    }
    assert_eq!(
        Answer::parse(br#"{"code":0e-2000000000}"#).map(|a| a.code),
        Some(0)
    );
}
