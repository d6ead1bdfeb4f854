//! Message pieces built without `core::fmt`: numbers and quoted strings as
//! text. The messages are the same as `format!` would write; building them
//! from `&str` pieces (`[a, b, c].concat()`) keeps `format!`'s machinery,
//! `Debug` of strings and the Unicode tables it pulls in out of the
//! WebAssembly module (issue 13: the package's size).

use crate::json;

/// An unsigned integer in decimal, as `{}` writes it.
pub fn uint(n: u64) -> String {
    let mut out = String::new();
    json::push_unsigned(&mut out, n);
    out
}

/// A signed integer in decimal, as `{}` writes it.
pub fn int(n: i64) -> String {
    let mut out = String::new();
    json::push_integer(&mut out, n);
    out
}

/// A string in double quotes, with `"`, `\` and control characters escaped
/// as `{:?}` escapes them (other characters are kept as they are).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                out.push_str("\\u{");
                let code = c as u32;
                let mut shift = 28;
                while shift > 0 && code >> shift == 0 {
                    shift -= 4;
                }
                loop {
                    out.push(char::from_digit((code >> shift) & 0xf, 16).unwrap_or('0'));
                    if shift == 0 {
                        break;
                    }
                    shift -= 4;
                }
                out.push('}');
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 1_048_576, u64::MAX] {
            assert_eq!(uint(n), n.to_string());
        }
        for n in [0, -1, 7, -20001, i64::MIN, i64::MAX] {
            assert_eq!(int(n), n.to_string());
        }
    }

    #[test]
    fn quotes_as_debug_does() {
        for s in [
            "",
            "plain",
            "say \"hi\"",
            r"C:\path",
            "tab\there\nline\r\0",
            "bell\u{7}del\u{7f}c1\u{85}",
            "été ✓ 日本",
        ] {
            assert_eq!(quoted(s), format!("{s:?}"), "{s}");
        }
    }
}
