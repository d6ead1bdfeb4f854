//! A small JSON reader and writer: just what the protocol's answers need
//! (see [`crate::protocol::Answer`]), without serde, whose generic code is
//! most of the size of a wasm module otherwise.
//!
//! The reader checks the whole text is valid JSON (RFC 8259) and keeps
//! numbers as their source text, so that a field can read them as an
//! integer or keep them as a string, as the answers' tolerant parsing
//! wants. The writer escapes strings as `serde_json` does.
//!
//! The reader slices its text with `str::get`, never `text[a..b]`: each
//! index is at an ASCII byte, so `get` never refuses one, and a slice
//! that cannot panic keeps `core`'s slicing panic and the formatting it
//! pulls in out of the wasm module (issue 13, the package's size).

use std::borrow::Cow;

/// A parsed JSON value. Strings borrow from the text when they have no
/// escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// A number, as written (`-12`, `1.5e3`).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Members in order; a repeated name keeps each occurrence.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// Deepest nesting accepted: as `serde_json`, which refuses the 128th
/// level (tests/json_differential.rs holds both to it).
const MAX_DEPTH: usize = 127;

/// Parses a whole JSON text; `None` if it is not valid JSON.
pub fn parse(text: &[u8]) -> Option<Value<'_>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut parser = Parser { text, at: 0 };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    (parser.at == text.len()).then_some(value)
}

impl<'a> Value<'a> {
    /// The last member named `name`, if this is an object that has one.
    pub fn get(&self, name: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members
                .iter()
                .rev()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// An integer from a number without a fractional part (`7`, `7.0`,
    /// `7e2`), or from a string holding one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(text) => integer(text),
            Value::String(text) => integer(text.trim()),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_i64().and_then(|v| u64::try_from(v).ok())
    }

    /// A string, or a number as written.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::String(text) => Some(text.as_ref().to_owned()),
            Value::Number(text) => Some((*text).to_owned()),
            _ => None,
        }
    }
}

/// The integer a JSON number (or a string holding one) denotes, if it is a
/// whole number within ±2^63. Read byte by byte: `str`'s char patterns
/// (`find`, `split_once`) would add core's char searcher to the module.
fn integer(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        Some(b'+') => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let (mantissa, exponent) = match rest.iter().position(|&b| b | 0x20 == b'e') {
        Some(at) => (&rest[..at], exponent(&rest[at + 1..])?),
        None => (rest, 0),
    };
    let (whole, mut fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    // The digits and the power of ten they are scaled by.
    while let [rest @ .., b'0'] = fraction {
        fraction = rest;
    }
    let mut scale = exponent.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let mut value: u64 = 0;
    for b in whole.iter().chain(fraction) {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    // Zero scaled by anything is zero. Any other value has at most 20
    // digits, so each loop below ends within 20 turns (a digit that is not
    // 0, or an overflow), whatever the exponent: `0e-2000000000` must not
    // turn two billion times.
    if value == 0 {
        return Some(0);
    }
    while scale < 0 {
        if value % 10 != 0 {
            return None;
        }
        value /= 10;
        scale += 1;
    }
    while scale > 0 && value != 0 {
        value = value.checked_mul(10)?;
        scale -= 1;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// An exponent's value (`+5`, `-12`, `7`), held within ±10^6: beyond
/// that every non-zero integer overflows or has a fraction, and zero stays
/// zero, so a longer exponent means the same as a clamped one.
fn exponent(text: &[u8]) -> Option<i32> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i32, |n, b| (n * 10 + i32::from(b - b'0')).min(1_000_000));
    Some(if negative { -magnitude } else { magnitude })
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Option<Value<'a>> {
        self.text.get(self.at..)?.starts_with(word).then(|| {
            self.at += word.len();
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            _ => self.number(),
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.eat(b'}').is_some() {
            return Some(Value::Object(members));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.skip_space();
            self.eat(b':')?;
            self.skip_space();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_space();
            if self.eat(b',').is_none() {
                self.eat(b'}')?;
                return Some(Value::Object(members));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.eat(b']').is_some() {
            return Some(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth)?);
            self.skip_space();
            if self.eat(b',').is_none() {
                self.eat(b']')?;
                return Some(Value::Array(items));
            }
        }
    }

    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let digits = |parser: &mut Parser<'a>| {
            let from = parser.at;
            while parser.peek().is_some_and(|b| b.is_ascii_digit()) {
                parser.at += 1;
            }
            parser.at > from
        };
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && !digits(self) {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        debug_assert!(self.at <= bytes.len());
        self.text.get(start..self.at).map(Value::Number)
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        // Fast path: no escapes.
        loop {
            match self.peek()? {
                b'"' => {
                    let text = self.text.get(start..self.at)?;
                    self.at += 1;
                    return Some(Cow::Borrowed(text));
                }
                b'\\' => break,
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let mut out = String::from(self.text.get(start..self.at)?);
        loop {
            let rest = self.text.get(self.at..)?;
            let c = rest.chars().next()?;
            self.at += c.len_utf8();
            match c {
                '"' => return Some(Cow::Owned(out)),
                '\\' => {
                    let escape = self.peek()?;
                    self.at += 1;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    });
                }
                '\0'..='\u{1f}' => return None,
                c => out.push(c),
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair of two escapes.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xE000).contains(&first) {
            return char::from_u32(first);
        }
        if first >= 0xDC00 || !self.text.get(self.at..)?.starts_with("\\u") {
            return None;
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.as_bytes().get(self.at..self.at + 4)?;
        self.at += 4;
        digits.iter().try_fold(0, |n, &b| Some(n << 4 | char::from(b).to_digit(16)?))
    }
}

/// Writes JSON objects field by field.
pub struct Writer {
    out: String,
    first: bool,
}

impl Writer {
    /// Starts an object.
    pub fn object() -> Writer {
        Writer {
            out: String::from("{"),
            first: true,
        }
    }

    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_string(&mut self.out, name);
        self.out.push(':');
    }

    pub fn string(&mut self, name: &str, value: &str) -> &mut Writer {
        self.key(name);
        write_string(&mut self.out, value);
        self
    }

    pub fn integer(&mut self, name: &str, value: i64) -> &mut Writer {
        self.key(name);
        push_integer(&mut self.out, value);
        self
    }

    /// A value already written as JSON.
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Writer {
        self.key(name);
        self.out.push_str(json);
        self
    }

    /// Ends the object.
    pub fn finish(&mut self) -> String {
        self.out.push('}');
        std::mem::take(&mut self.out)
    }
}

/// Appends the decimal digits of `value` (without `core::fmt`, which is
/// large in a wasm module).
pub fn push_integer(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_unsigned(out, value.unsigned_abs());
}

/// Appends the decimal digits of `value`.
pub fn push_unsigned(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for &digit in &digits[at..] {
        out.push(digit as char);
    }
}

/// `value` in decimal, for messages: as `{}` writes it, without `core::fmt`.
pub fn uint_text(value: u64) -> String {
    let mut out = String::new();
    push_unsigned(&mut out, value);
    out
}

/// `value` in decimal, for messages: as `{}` writes it, without `core::fmt`.
pub fn int_text(value: i64) -> String {
    let mut out = String::new();
    push_integer(&mut out, value);
    out
}

/// `value` in double quotes, escaped as a JSON string: how messages quote
/// a name or a URL (`{:?}` would pull `Debug` and the Unicode tables it
/// needs into the wasm module).
pub fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    write_string(&mut out, value);
    out
}

/// Appends `value` as a JSON string, escaped as `serde_json` does.
pub fn write_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\0'..='\u{1f}' => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_value() {
        let v = parse(br#" {"a": [1, -2.5e3, true, false, null, "x\u00e9\n\"\ud83d\ude00"], "b": {}, "c": []} "#)
            .unwrap();
        let Value::Array(items) = v.get("a").unwrap() else {
            panic!("{v:?}")
        };
        assert_eq!(items[0], Value::Number("1"));
        assert_eq!(items[1], Value::Number("-2.5e3"));
        assert_eq!(items[2], Value::Bool(true));
        assert_eq!(items[4], Value::Null);
        assert_eq!(items[5], Value::String("xé\n\"😀".into()));
        assert_eq!(v.get("b"), Some(&Value::Object(vec![])));
        assert_eq!(v.get("c"), Some(&Value::Array(vec![])));
        assert_eq!(v.get("d"), None);
    }

    #[test]
    fn refuses_what_is_not_json() {
        for text in [
            &b""[..],
            b"{",
            b"{\"a\":1,}",
            b"[1,]",
            b"{\"a\" 1}",
            b"{'a':1}",
            b"01",
            b"1.",
            b".5",
            b"-",
            b"1e",
            b"tru",
            b"\"\\x\"",
            b"\"\\ud800\"",
            b"\"a\nb\"",
            b"{} x",
            b"<html>",
            b"\xff",
        ] {
            assert_eq!(parse(text), None, "{:?}", String::from_utf8_lossy(text));
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(parse(deep.as_bytes()), None);
        let fine = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(fine.as_bytes()).is_some());
    }

    #[test]
    fn integers_from_numbers_and_strings() {
        let int = |text: &str| Value::Number(text).as_i64();
        assert_eq!(int("0"), Some(0));
        assert_eq!(int("-10005"), Some(-10005));
        assert_eq!(int("7031868222808505913"), Some(7_031_868_222_808_505_913));
        assert_eq!(int("2.0"), Some(2));
        assert_eq!(int("1.5e1"), Some(15));
        assert_eq!(int("5e0"), Some(5));
        assert_eq!(int("1e3"), Some(1000));
        assert_eq!(int("1250e-2"), None);
        assert_eq!(int("1.5"), None);
        assert_eq!(int("1e30"), None);
        assert_eq!(int("99999999999999999999"), None);
        assert_eq!(int("0e-2000000000"), Some(0));
        assert_eq!(int("-0.000e2000000000"), Some(0));
        assert_eq!(int("1e-2000000000"), None);
        assert_eq!(int("1e2000000000"), None);
        assert_eq!(int("100e-2"), Some(1));
        assert_eq!(int("0e99999999999999999999"), Some(0));
        assert_eq!(int("1e-99999999999999999999"), None);
        assert_eq!(int("1e+2"), Some(100));
        assert_eq!(int("1e"), None);
        assert_eq!(int("1e+"), None);
        assert_eq!(int("1e2x"), None);
        let text = |s: &str| Value::String(s.to_owned().into()).as_i64();
        assert_eq!(text(" 524288 "), Some(524_288));
        assert_eq!(text("1"), Some(1));
        assert_eq!(text("abc"), None);
        assert_eq!(text(""), None);
        assert_eq!(Value::Bool(true).as_i64(), None);
        assert_eq!(Value::Number("-1").as_u64(), None);
    }

    #[test]
    fn writes_integers() {
        for v in [0i64, 1, -1, 9, 10, 524_288, -10005, i64::MAX, i64::MIN] {
            let mut out = String::new();
            push_integer(&mut out, v);
            assert_eq!(out, v.to_string());
        }
        let mut out = String::new();
        push_unsigned(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string());
    }

    #[test]
    fn numbers_and_quotes_for_messages() {
        for n in [0, 9, 10, 1_048_576, u64::MAX] {
            assert_eq!(uint_text(n), n.to_string());
        }
        for n in [0, -1, -20001, i64::MIN, i64::MAX] {
            assert_eq!(int_text(n), n.to_string());
        }
        assert_eq!(quoted(r#"say "hi" \ C:\"#), r#""say \"hi\" \\ C:\\""#);
        assert_eq!(quoted("été\n"), "\"été\\n\"");
    }

    #[test]
    fn writes_strings_as_serde_json_does() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\nd\te\u{1}f\u{7f}é");
        assert_eq!(out, r#""a\"b\\c\nd\te\u0001f"#.to_owned() + "\u{7f}é\"");
        let json = Writer::object()
            .integer("code", -10005)
            .string("message", "no")
            .raw("list", "[]")
            .finish();
        assert_eq!(json, r#"{"code":-10005,"message":"no","list":[]}"#);
    }
}
