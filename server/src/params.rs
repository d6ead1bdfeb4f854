//! Query-string parameters, decoded leniently: a request with garbage or
//! non-UTF-8 in it must get a JSON answer saying what is wrong, never a
//! rejection page, so decoding itself never fails (bad bytes become U+FFFD
//! and then fail the parameter's own check).

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        let query = query.unwrap_or_default();
        Params(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_tolerates_garbage() {
        let p = Params::parse(Some("a=1&b=x%2By&a=2&bad=%FF%FE&novalue"));
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), Some("x+y"));
        assert_eq!(p.get("bad"), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(p.get("novalue"), Some(""));
        assert_eq!(p.get("missing"), None);
        assert_eq!(Params::parse(None).get("a"), None);
    }
}
