//! Finding the JSON value in a reply. Constrained modes return bare JSON, but servers and models
//! still wrap it in a code fence or a sentence now and then; the `Prompt` mode expects that. Repairs
//! are limited to what is unambiguous (trailing commas); anything else is reported to the model.
//!
//! Prose may hold more than one JSON value (an example, then the answer): each is a candidate, in
//! order, and the caller says which one it accepts. An object that repeats a key is never read (which
//! of the two would count?): it is reported to the model like any other error.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How many candidate starts (`{` or `[`) to try in prose before giving up. Starts inside a value
/// already read are not candidates (they are its members) and do not count.
const MAX_CANDIDATES: usize = 16;

/// The most bytes of a repeated key quoted in the error.
const MAX_KEY_QUOTED: usize = 100;

/// The reply's first JSON value (see [`locate_with`]).
#[cfg(any(test, feature = "__fuzz"))]
pub(crate) fn locate(text: &str) -> Result<Value, String> {
    locate_with(text, Ok)
}

/// The reply's JSON value: the whole reply when it is JSON; otherwise the candidates in prose, in
/// order (the body of a code fence, each bracketed span not inside an earlier one, the whole reply
/// with its trailing commas removed), the first one `accept` takes. `accept` turns a candidate into
/// what the caller needs and says whether it takes it (`Ok`) or not (`Err`); when it takes none, the
/// first candidate found is the answer (so the model hears what is wrong with it), and a candidate
/// that repeats a key is an error naming the key.
pub(crate) fn locate_with<R>(
    text: &str,
    mut accept: impl FnMut(Value) -> Result<R, R>,
) -> Result<R, String> {
    let text = text.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Err("the reply is empty; answer with the JSON value".into());
    }
    let first_error = match read(text) {
        // The whole reply is one value: there is no other candidate.
        Ok(value) => return accept(value).or_else(Ok),
        Err(err) => err,
    };
    if first_error.to_string().contains("recursion limit") {
        return Err(format!("the reply is nested too deeply: {first_error}"));
    }
    let mut first: Option<Result<R, String>> = None;
    if let Some(refused) = repeated(&first_error) {
        first = Some(Err(refused));
    }
    // The fence first, the spans in order, the whole reply repaired last.
    let mut fence = fenced(text);
    let mut spans = Spans {
        text,
        starts: text.match_indices(['{', '[']),
        after: 0,
        last_end: 0,
        left: MAX_CANDIDATES,
    };
    let mut whole = Some(text);
    loop {
        let (candidate, is_span) = match fence.take() {
            Some(body) => (body, false),
            None => match spans.next() {
                Some(span) => (span, true),
                None => match whole.take() {
                    Some(whole) => (whole, false),
                    None => break,
                },
            },
        };
        let Some(found) = read_lenient(candidate) else {
            continue;
        };
        if is_span {
            spans.read_last();
        }
        match found.map(&mut accept) {
            Ok(Ok(taken)) => return Ok(taken),
            Ok(Err(kept)) => {
                first.get_or_insert(Ok(kept));
            }
            Err(refused) => {
                first.get_or_insert(Err(refused));
            }
        }
    }
    first.unwrap_or_else(|| Err(format!("the reply is not valid JSON: {first_error}")))
}

/// The bracketed spans of prose, in order, skipping those inside a value already read.
struct Spans<'a> {
    text: &'a str,
    starts: std::str::MatchIndices<'a, [char; 2]>,
    /// The offset before which no candidate starts: the end of the last span read as a value.
    after: usize,
    /// The end of the last span yielded.
    last_end: usize,
    /// Candidates still allowed.
    left: usize,
}

impl Spans<'_> {
    /// Notes that the last span yielded was read as a value: the brackets inside it are its
    /// members, not candidates.
    fn read_last(&mut self) {
        self.after = self.last_end;
    }
}

impl<'a> Iterator for Spans<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        while self.left > 0 {
            let (start, _) = self.starts.next()?;
            if start < self.after {
                continue;
            }
            self.left -= 1;
            let rest = self.text.get(start..)?;
            if let Some(end) = balanced_end(rest) {
                self.last_end = start + end;
                return rest.get(..end);
            }
        }
        None
    }
}

/// A value read from `text`, trailing commas repaired; `Some(Err)` when it is JSON whose object
/// repeats a key, `None` when it is not JSON.
fn read_lenient(text: &str) -> Option<Result<Value, String>> {
    let err = match read(text) {
        Ok(value) => return Some(Ok(value)),
        Err(err) => err,
    };
    if let Some(refused) = repeated(&err) {
        return Some(Err(refused));
    }
    let repaired = without_trailing_commas(text)?;
    match read(&repaired) {
        Ok(value) => Some(Ok(value)),
        Err(err) => repeated(&err).map(Err),
    }
}

/// Reads one JSON document, refusing an object that repeats a key.
fn read(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Unique>(text).map(|unique| unique.0)
}

/// [`read`] of bytes, as the fuzz targets compare the stream parser with it.
#[cfg(feature = "__fuzz")]
pub(crate) fn read_bytes(data: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Unique>(data).map(|unique| unique.0)
}

/// The error for the model when `err` is a repeated key (the only data error [`Unique`] raises).
fn repeated(err: &serde_json::Error) -> Option<String> {
    (err.classify() == serde_json::error::Category::Data).then(|| err.to_string())
}

/// A `Value` read as `serde_json` reads it, except that an object repeating a key is an error,
/// where `Value` keeps the last one silently.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Unique(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(A::Error::custom(repeated_key(&key)));
            }
            let Unique(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// What the model is told about a repeated key (quoted up to [`MAX_KEY_QUOTED`] bytes).
fn repeated_key(key: &str) -> String {
    format!(
        "the key `{}` appears more than once in one object; give each key once",
        crate::text::clip(key, MAX_KEY_QUOTED)
    )
}

/// The body of the first Markdown code fence, without its language tag.
fn fenced(text: &str) -> Option<&str> {
    let start = text.find("```")? + 3;
    let rest = &text[start..];
    let body_start = rest.find('\n').map_or(0, |i| i + 1);
    let tag = rest[..body_start].trim();
    let body_start = if tag.is_empty() || tag.chars().all(|c| c.is_ascii_alphanumeric()) {
        body_start
    } else {
        0
    };
    let body = &rest[body_start..];
    let end = body.find("```").unwrap_or(body.len());
    Some(body[..end].trim())
}

/// The length of the bracketed value at the start of `text`, skipping brackets inside strings.
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// `[1, 2,]` → `[1, 2]`: the one repair with a single possible meaning. `None` when there is none.
fn without_trailing_commas(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = bytes[i + 1..].iter().find(|b| !b.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) {
                changed = true;
                continue;
            }
        }
        out.push(c);
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Value {
        locate(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn finds_json_where_models_put_it() {
        assert_eq!(ok(r#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(ok("```json\n{\"a\": 1}\n```"), json!({"a": 1}));
        assert_eq!(ok("```\n[1, 2]\n```"), json!([1, 2]));
        assert_eq!(
            ok("Sure! Here it is: {\"a\": \"}\"} Hope that helps."),
            json!({"a": "}"})
        );
        assert_eq!(ok("{\"a\": [1, 2,],}"), json!({"a": [1, 2]}));
        assert_eq!(ok("\u{feff}  {\"a\": \",]\"}  "), json!({"a": ",]"}));
    }

    #[test]
    fn a_repeated_key_is_refused_wherever_it_is() {
        for text in [
            r#"{"name":"first","name":"second"}"#,
            r#"{"a":{"name":1,"name":2}}"#,
            "Here: {\"name\":\"first\",\"name\":\"second\",}",
            "```json\n{\"name\":\"first\",\"name\":\"second\"}\n```",
        ] {
            let err = locate(text).expect_err(text);
            assert!(
                err.contains("`name` appears more than once"),
                "{text}: {err}"
            );
        }
        // A nested value of a refused one is not a candidate of its own.
        assert!(locate(r#"Sure: {"a":{"x":1},"a":2}"#).is_err());
    }

    #[test]
    fn the_first_accepted_candidate_wins_and_the_first_found_is_the_fallback() {
        let text = r#"For example {"n": "one"}, or [1]; the answer: {"n": 2} {"n": 3}"#;
        let number = |v: Value| if v["n"].is_number() { Ok(v) } else { Err(v) };
        assert_eq!(locate_with(text, number), Ok(json!({"n": 2})));
        let never = |v: Value| Err::<Value, Value>(v);
        assert_eq!(locate_with(text, never), Ok(json!({"n": "one"})));
        // A repeated key in an example does not hide the answer after it.
        let text = r#"Not {"n": 1, "n": 2} but {"n": 3}"#;
        assert_eq!(locate_with(text, number), Ok(json!({"n": 3})));
        // Brackets inside a value read are its members, not candidates.
        let text = r#"Wrapped: {"outer": {"n": 4}}"#;
        assert_eq!(locate_with(text, number), Ok(json!({"outer": {"n": 4}})));
        // The whole reply, when it is JSON, is the only candidate.
        assert_eq!(
            locate_with(r#"{"outer": {"n": 4}}"#, number),
            Ok(json!({"outer": {"n": 4}}))
        );
    }

    #[test]
    fn reports_what_it_cannot_find() {
        assert!(locate("").unwrap_err().contains("empty"));
        assert!(locate("no json here")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(locate("{\"a\": ").unwrap_err().contains("not valid JSON"));
        let bomb = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(locate(&bomb).unwrap_err().contains("nested too deeply"));
    }
}
