//! The incremental JSON parser against serde_json as the oracle: the same events however the input
//! is split, string text and closed values that serde_json reads the same way, a value rebuilt from
//! the events equal to serde_json's, and an error (never a panic) for invalid input at any split.

use extract::stream::json::{Event, ParseError, Parser, Seg};
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// An owned event, so runs can be compared.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Open,
    Text(String),
    Close(String),
}

type Events = Vec<(Vec<Seg>, Ev)>;

/// Feeds `chunks` to `parser` and then finishes it, returning the events as emitted.
fn run(mut parser: Parser, chunks: &[&[u8]]) -> Result<Events, (ParseError, Events)> {
    let mut events = Events::new();
    let mut record = |path: &[Seg], event: &Event<'_>| {
        let ev = match event {
            Event::Open => Ev::Open,
            Event::Text(text) => Ev::Text((*text).to_owned()),
            Event::Close(raw) => Ev::Close((*raw).to_owned()),
        };
        events.push((path.to_vec(), ev));
    };
    for chunk in chunks {
        if let Err(e) = parser.feed(chunk, &mut record) {
            return Err((e, events));
        }
    }
    match parser.finish(&mut record) {
        Ok(()) => {
            assert!(parser.is_complete());
            let fed: Vec<u8> = chunks.concat();
            assert_eq!(parser.text().as_bytes(), fed, "text() is the input as fed");
            Ok(events)
        }
        Err(e) => Err((e, events)),
    }
}

/// Joins the text chunks of each string, which follow the input's chunking; the rest of the event
/// sequence does not depend on it. Also checks that no text chunk is empty.
fn normalize(events: Events) -> Events {
    let mut out: Events = Vec::new();
    for (path, ev) in events {
        if let Ev::Text(text) = &ev {
            assert!(!text.is_empty(), "an empty Text event at {path:?}");
            if let Some((last_path, Ev::Text(last))) = out.last_mut() {
                if *last_path == path {
                    last.push_str(text);
                    continue;
                }
            }
        }
        out.push((path, ev));
    }
    out
}

fn split_at(doc: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        chunks.push(doc[start..cut].to_vec());
        start = cut;
    }
    chunks.push(doc[start..].to_vec());
    chunks
}

fn run_split(parser: Parser, doc: &[u8], cuts: &[usize]) -> Result<Events, (ParseError, Events)> {
    let chunks = split_at(doc, cuts);
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    run(parser, &refs)
}

fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| match seg {
            Seg::Key(key) => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// The value at `path` below `root`, created on the way: an object for a key, an array for an
/// index (which must be the next element or the last one, since JSON arrives in order).
fn slot<'a>(root: &'a mut Value, path: &[Seg]) -> &'a mut Value {
    let mut value = root;
    for seg in path {
        value = match seg {
            Seg::Key(key) => {
                if value.is_null() {
                    *value = Value::Object(Map::new());
                }
                let object = value.as_object_mut().expect("a key inside an object");
                object.entry(key.to_string()).or_insert(Value::Null)
            }
            Seg::Index(i) => {
                if value.is_null() {
                    *value = Value::Array(Vec::new());
                }
                let array = value.as_array_mut().expect("an index inside an array");
                assert!(*i <= array.len(), "index {i} skips elements");
                if *i == array.len() {
                    array.push(Value::Null);
                }
                &mut array[*i]
            }
        };
    }
    value
}

/// Rebuilds the document from its (normalized) events and checks each event against serde_json's
/// reading of the whole document `expected`:
/// (a) a string's text equals serde_json's decoding of it,
/// (b) each closed value's raw text reads as the value at its path (as the value its events built,
/// and, unless an object repeats a key, which makes the last one count, as the part of `expected`),
/// (d) the rebuilt value equals `expected`.
fn check_events(events: &Events, expected: &Value) {
    let mut root = Value::Null;
    let mut open: Vec<Vec<Seg>> = Vec::new();
    let mut text: Option<(Vec<Seg>, String)> = None;
    let mut keys: HashMap<Vec<Seg>, HashSet<Box<str>>> = HashMap::new();
    let mut repeated_key = false;
    let mut closed: Vec<(Vec<Seg>, Value)> = Vec::new();
    for (path, ev) in events {
        match ev {
            Ev::Open => {
                // A placeholder, turned into an object or an array by its first member.
                *slot(&mut root, path) = Value::Null;
                open.push(path.clone());
            }
            Ev::Text(chunk) => {
                assert!(text.is_none(), "two text runs for one string at {path:?}");
                text = Some((path.clone(), chunk.clone()));
            }
            Ev::Close(raw) => {
                let parsed: Value = serde_json::from_str(raw).unwrap_or_else(|e| {
                    panic!("Close raw {raw:?} at {path:?} does not parse: {e}")
                });
                if let Some((Seg::Key(key), object)) = path.split_last() {
                    // Each member closes once, so a key closed twice in one object is repeated.
                    repeated_key |= !keys.entry(object.to_vec()).or_default().insert(key.clone());
                }
                closed.push((path.clone(), parsed.clone()));
                if open.last() == Some(path) {
                    open.pop();
                    keys.remove(path);
                    let value = slot(&mut root, path);
                    if value.is_null() {
                        // Nothing was inside: `{}` or `[]`.
                        *value = parsed;
                    } else {
                        assert_eq!(
                            value, &parsed,
                            "Close raw at {path:?} and the events inside"
                        );
                    }
                } else if let Some((text_path, text)) = text.take() {
                    assert_eq!(&text_path, path, "text for one value, Close for another");
                    assert_eq!(
                        Value::String(text.clone()),
                        parsed,
                        "the text chunks of {raw:?}"
                    );
                    *slot(&mut root, path) = Value::String(text);
                } else {
                    assert!(parsed != Value::String(String::new()) || raw == "\"\"");
                    if let Value::String(s) = &parsed {
                        assert!(s.is_empty(), "a non-empty string {raw:?} without Text");
                    }
                    *slot(&mut root, path) = parsed;
                }
            }
        }
    }
    if !repeated_key {
        for (path, parsed) in closed {
            let part = expected
                .pointer(&pointer(&path))
                .unwrap_or_else(|| panic!("no value at {path:?} in the document"));
            assert_eq!(&parsed, part, "Close raw at {path:?}");
        }
    }
    assert!(open.is_empty(), "containers left open: {open:?}");
    assert!(text.is_none(), "text without a Close");
    assert_eq!(&root, expected, "the value rebuilt from the events");
}

/// Whether two text runs of the same string follow each other: a parser fed the whole document at
/// once emits one text chunk per string.
fn one_text_per_string(events: &Events) -> bool {
    events
        .windows(2)
        .all(|pair| !matches!((&pair[0], &pair[1]), ((a, Ev::Text(_)), (b, Ev::Text(_))) if a == b))
}

/// The full check of a valid document: fed whole, split at every byte position, and one byte at a
/// time, the events agree with serde_json and with each other.
fn check_valid(parser: impl Fn() -> Parser, doc: &str, json: &str) {
    let expected: Value = serde_json::from_str(json).expect("the test's document is valid JSON");
    let bytes = doc.as_bytes();
    let whole = run(parser(), &[bytes]).unwrap_or_else(|(e, _)| panic!("{doc:?}: {e}"));
    assert!(one_text_per_string(&whole), "{whole:?}");
    let events = normalize(whole);
    check_events(&events, &expected);
    for cut in 0..=bytes.len() {
        let split = run_split(parser(), bytes, &[cut])
            .unwrap_or_else(|(e, _)| panic!("{doc:?} split at {cut}: {e}"));
        assert_eq!(normalize(split), events, "{doc:?} split at {cut}");
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    let one_by_one = run(parser(), &singles).unwrap_or_else(|(e, _)| panic!("{doc:?}: {e}"));
    assert_eq!(normalize(one_by_one), events, "{doc:?} one byte at a time");
}

fn check_strict(doc: &str) {
    check_valid(Parser::new, doc, doc);
}

/// Every split of an invalid document gives the same error (same offset), from `feed` or `finish`,
/// and serde_json rejects it too.
fn check_invalid(doc: &[u8]) -> ParseError {
    assert!(
        serde_json::from_slice::<Value>(doc).is_err(),
        "serde_json accepts {:?}",
        String::from_utf8_lossy(doc)
    );
    let (error, _) = run(Parser::new(), &[doc]).expect_err("an invalid document");
    for cut in 0..=doc.len() {
        let (split, _) = run_split(Parser::new(), doc, &[cut]).expect_err("an invalid document");
        assert_eq!(
            split,
            error,
            "{:?} split at {cut}",
            String::from_utf8_lossy(doc)
        );
    }
    let singles: Vec<&[u8]> = doc.chunks(1).collect();
    let (single, _) = run(Parser::new(), &singles).expect_err("an invalid document");
    assert_eq!(single, error);
    error
}

#[test]
fn strings_with_every_escape() {
    check_strict(r#""""#);
    check_strict(r#""plain text""#);
    check_strict(
        r#""q\" b\\ s\/ \b \f \n \r \t A\u0041 \u00e9 \u20AC \u0000 \uFFFF \ud83d\ude00 \uD834\uDD1E end""#,
    );
    check_strict(r#""\\\\\"\"\u0022""#);
    check_strict(r#"["\n", "\u00e9", "", "\ud83d\ude00", "a\tb"]"#);
}

#[test]
fn raw_multibyte_utf8() {
    // 2-byte é ÿ, 3-byte € 中, 4-byte 😀 𝄞, and DEL, which needs no escape.
    check_strict("\"é ÿ € 中文 😀 𝄞 \u{7f} mixed \\u00e9é\"");
    check_strict("{\"clé\": \"valeur €\", \"😀\": [\"𝄞\", \"中\"]}");
}

#[test]
fn numbers() {
    for number in [
        "0",
        "-0",
        "7",
        "-12",
        "1e10",
        "1E+2",
        "1.5E-3",
        "-12.5e+7",
        "0.0",
        "0e0",
        "123456789012345678901234567890",
        "-98765432109876543210.0123456789e-20",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "1.7976931348623157e308",
    ] {
        // At the root, where only `finish` can close it, and inside containers.
        check_strict(number);
        check_strict(&format!(" {number} "));
        check_strict(&format!("[{number},{number} , {number}]"));
        check_strict(&format!("{{\"n\":{number},\"m\": {number} }}"));
    }
}

/// JSON's grammar has no range: a number serde_json cannot hold as an `f64` is still a value, whose
/// text `Close` hands over for the consumer to read (or not).
#[test]
fn numbers_beyond_f64() {
    for doc in ["1e400", "[-5e8683303]", "{\"n\": 1.5E+99999}"] {
        let events = run(Parser::new(), &[doc.as_bytes()]).expect("valid grammar");
        let number = doc
            .trim_start_matches(['[', '{'])
            .trim_end_matches([']', '}']);
        let number = number.rsplit(' ').next().unwrap_or(number);
        assert!(
            events
                .iter()
                .any(|(_, ev)| *ev == Ev::Close(number.to_owned())),
            "{events:?}"
        );
    }
}

#[test]
fn literals() {
    for literal in ["true", "false", "null"] {
        check_strict(literal);
        check_strict(&format!("[{literal},{literal}]"));
        check_strict(&format!("{{\"a\":{literal}}}"));
    }
}

#[test]
fn containers_empty_nested_and_deep() {
    check_strict("{}");
    check_strict("[]");
    check_strict("[{},[],{\"a\":[]},[[]],{\"b\":{}}]");
    check_strict("[[[[[[[[[[{\"a\":[[{}]]}]]]]]]]]]]");
    let depth = 100;
    let deep = format!(
        "{}1{}",
        "[{\"k\":".repeat(depth / 2),
        "}]".repeat(depth / 2)
    );
    check_strict(&deep);
}

#[test]
fn whitespace_everywhere() {
    check_strict(" \n\t{ \"a\" \r\n : [ 1 , \"x\" , { } , [ ] , true ] , \"b\" :null\t}\r\n ");
    check_strict("\n[\n  1,\n  -2.5e3\n]\n");
}

#[test]
fn keys_with_escapes_and_unicode() {
    check_strict(r#"{"k\"ey\u00e9": 1, "": 2, "😀": "v", "a/b~c": [3], "\ud83d\ude00\n": null}"#);
}

#[test]
fn a_repeated_key_is_an_error_at_every_split() {
    // The same key in different objects is fine.
    check_strict(r#"{"a": 1, "b": {"a": [2], "b": {"a": 3}}, "c": [{"a": 4}, {"a": 5}]}"#);
    for (doc, at, never) in [
        (r#"{"a": 1, "b": 2, "a": 3}"#, 19, "3"),
        (r#"{"b": {"a": [2], "a": {"x": 3}}}"#, 19, "3"),
        (r#"{"k\u00e9": 1, "ké": 2}"#, 19, "2"),
    ] {
        assert!(serde_json::from_str::<Value>(doc).is_ok(), "{doc}");
        assert!(no_repeats(doc.as_bytes()).is_err(), "{doc}");
        let (error, events) = run(Parser::new(), &[doc.as_bytes()]).expect_err("a repeated key");
        assert_eq!(error.offset(), at, "{doc}: {error}");
        assert!(
            error.message().contains("appears more than once"),
            "{error}"
        );
        // Nothing of the repeated key's value was emitted.
        assert!(
            !events.iter().any(|(_, ev)| *ev == Ev::Close(never.into())),
            "{events:?}"
        );
        for cut in 0..=doc.len() {
            let (split, _) =
                run_split(Parser::new(), doc.as_bytes(), &[cut]).expect_err("repeated");
            assert_eq!(split, error, "{doc} split at {cut}");
        }
    }
}

/// serde_json's verdict on a document, except that an object repeating a key is refused (serde_json
/// keeps the last one; the parser, like the judge, refuses to choose).
fn no_repeats(doc: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> DeserializeSeed<'de> for Check {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Check {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Check)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !keys.insert(key) {
                    return Err(A::Error::custom("a repeated key"));
                }
                map.next_value_seed(Check)?;
            }
            Ok(())
        }
    }
    let value = serde_json::from_slice::<Value>(doc)?;
    Check.deserialize(&mut serde_json::Deserializer::from_slice(doc))?;
    Ok(value)
}

#[test]
fn realistic_reply() {
    check_strict(
        r#"{"title": "Order", "items": [{"name": "Widget", "quantity": 3, "price": 1.25, "tags": ["a","b"], "note": "text with \"escapes\" and unicode é"}, {"name": "Gadget", "quantity": 10, "price": 0.5, "tags": [], "note": ""}]}"#,
    );
}

#[test]
fn exact_events_of_a_small_document() {
    let doc = r#"{"a": [1, "x\ny", {}], "b\u0021": {"c": true}}"#;
    let events = run(Parser::new(), &[doc.as_bytes()]).expect("valid");
    let key = |k: &str| Seg::Key(k.into());
    let close = |raw: &str| Ev::Close(raw.to_owned());
    let expected: Events = vec![
        (vec![], Ev::Open),
        (vec![key("a")], Ev::Open),
        (vec![key("a"), Seg::Index(0)], close("1")),
        (vec![key("a"), Seg::Index(1)], Ev::Text("x\ny".into())),
        (vec![key("a"), Seg::Index(1)], close(r#""x\ny""#)),
        (vec![key("a"), Seg::Index(2)], Ev::Open),
        (vec![key("a"), Seg::Index(2)], close("{}")),
        (vec![key("a")], close(r#"[1, "x\ny", {}]"#)),
        (vec![key("b!")], Ev::Open),
        (vec![key("b!"), key("c")], close("true")),
        (vec![key("b!")], close(r#"{"c": true}"#)),
        (vec![], close(doc)),
    ];
    assert_eq!(events, expected);
}

#[test]
fn text_follows_the_chunking_and_holds_back_what_is_split() {
    let feed_all = |chunks: &[&[u8]]| {
        let mut parser = Parser::new();
        let mut per_chunk = Vec::new();
        for chunk in chunks {
            let mut texts = Vec::new();
            parser
                .feed(chunk, |_, event| {
                    if let Event::Text(text) = event {
                        texts.push((*text).to_owned());
                    }
                })
                .expect("valid");
            per_chunk.push((texts, parser.text().to_owned()));
        }
        per_chunk
    };
    // Inside \uXXXX: the text before it goes out, the character once it is whole.
    let seen = feed_all(&[b"\"ab\\u00", b"e9cd", b"\""]);
    assert_eq!(seen[0].0, ["ab"]);
    assert_eq!(seen[1].0, ["\u{e9}cd"]);
    assert!(seen[2].0.is_empty());
    // Between the two halves of a surrogate pair.
    let seen = feed_all(&[b"\"x\\ud83d", b"\\ude00", b"y\""]);
    assert_eq!(seen[0].0, ["x"]);
    assert_eq!(seen[1].0, ["\u{1f600}"]);
    assert_eq!(seen[2].0, ["y"]);
    // Inside a 4-byte character: it is not in the text yet.
    let smile = "😀".as_bytes();
    let seen = feed_all(&[b"\"a", &smile[..1], &smile[1..3], &smile[3..], b"\""]);
    assert_eq!(seen[0].0, ["a"]);
    assert!(seen[1].0.is_empty() && seen[2].0.is_empty());
    assert_eq!(seen[1].1, "\"a");
    assert_eq!(seen[3].0, ["😀"]);
    assert_eq!(seen[3].1, "\"a😀");
    // After a lone backslash.
    let seen = feed_all(&[b"\"a\\", b"\"b\""]);
    assert_eq!(seen[0].0, ["a"]);
    assert_eq!(seen[1].0, ["\"b"]);
}

#[test]
fn a_number_at_the_root_closes_at_finish() {
    let mut parser = Parser::new();
    let mut closed = Vec::new();
    parser
        .feed(b"12", |_, e| closed.push(format!("{e:?}")))
        .expect("valid");
    parser
        .feed(b"3", |_, e| closed.push(format!("{e:?}")))
        .expect("valid");
    assert!(closed.is_empty() && !parser.is_complete());
    parser
        .finish(|_, e| closed.push(format!("{e:?}")))
        .expect("valid");
    assert_eq!(closed, [r#"Close("123")"#]);
    assert!(parser.is_complete());
    // More input after the end is trailing garbage; whitespace is not.
    parser.feed(b" \n", |_, _| {}).expect("whitespace");
    let error = parser.feed(b"4", |_, _| {}).expect_err("after the end");
    assert_eq!(error.offset(), 5);
}

#[test]
fn invalid_documents_fail_at_every_split() {
    let cases: &[(&[u8], usize)] = &[
        (b"", 0),
        (b"   ", 3),
        (b"{\"a\":1,}", 7),
        (b"[1,]", 3),
        (b"[1 2]", 3),
        (b"[01]", 2),
        (b"-01", 2),
        (b"00", 1),
        (b"-", 1),
        (b"[-]", 2),
        (b"1.", 2),
        (b"[1.]", 3),
        (b"[.5]", 1),
        (b"[+1]", 1),
        (b"1e", 2),
        (b"[1e+]", 4),
        (b"[1ex]", 3),
        (b"\"\\x\"", 2),
        (b"\"\\u12G4\"", 5),
        (b"\"a\nb\"", 2),
        (b"\"a\x00b\"", 2),
        (b"\"\\ud800\"", 7),
        (b"\"\\ud800\\n\"", 8),
        (b"\"\\ud800\\u0041\"", 12),
        (b"\"\\udc00\"", 6),
        (b"[1}", 2),
        (b"{\"a\":1]", 6),
        (b"{\"a\" 1}", 5),
        (b"{1:2}", 1),
        (b"{\"a\":}", 5),
        (b"{,}", 1),
        (b"[,1]", 1),
        (b"tru", 3),
        (b"trux", 3),
        (b"[nul]", 4),
        (b"falsey", 5),
        (b"NaN", 0),
        (b"[Infinity]", 1),
        (b"}", 0),
        (b"]", 0),
        (b"[", 1),
        (b"{\"a\":", 5),
        (b"{\"a\"", 4),
        (b"\"abc", 4),
        (b"{\"a\":1}}", 7),
        (b"{} x", 3),
        (b"[] []", 3),
        (b"'a'", 0),
        (b"\"\xff\"", 1),
        (b"\"\xc3\x28\"", 1),
        (b"\"\xc0\xaf\"", 1),
        (b"\"\xed\xa0\x80\"", 1),
        (b"\"\xe2\x82\"", 1),
        (b"\"\xe2\x82", 1),
        (b"[\"ok\", \xf0\x9f\x98]", 7),
        (b"\xef\xbb\xbf{}", 0),
        (b"[\xc3\xa9]", 1),
    ];
    for (doc, offset) in cases {
        let error = check_invalid(doc);
        assert_eq!(
            error.offset(),
            *offset,
            "{:?}: {error}",
            String::from_utf8_lossy(doc)
        );
        assert!(!error.message().is_empty());
    }
}

#[test]
fn error_messages_say_where_and_what() {
    let (error, _) = run(Parser::new(), &[b"{\"a\": 1,}"]).expect_err("trailing comma");
    assert_eq!(
        error.to_string(),
        "invalid JSON at byte 8: expected a key, found '}'"
    );
    let (error, _) = run(Parser::new(), &[b"[1, 2"]).expect_err("incomplete");
    assert_eq!(
        error.to_string(),
        "invalid JSON at byte 5: the input ended before the JSON value was complete"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(error);
    assert!(boxed.to_string().contains("byte 5"));
}

#[test]
fn errors_are_sticky() {
    let mut parser = Parser::new();
    let mut events = 0;
    parser
        .feed(b"[1, ", |_, _| events += 1)
        .expect("valid so far");
    let error = parser
        .feed(b"}, 2]", |_, _| events += 1)
        .expect_err("mismatched");
    assert_eq!(error.offset(), 4);
    let before = events;
    assert_eq!(parser.feed(b"3]", |_, _| events += 1), Err(error.clone()));
    assert_eq!(parser.feed(b"", |_, _| events += 1), Err(error.clone()));
    assert_eq!(parser.finish(|_, _| events += 1), Err(error.clone()));
    assert_eq!(parser.error(), Some(&error));
    assert_eq!(events, before, "no events after an error");
    assert!(!parser.is_complete());

    // An error from `finish` sticks too.
    let mut parser = Parser::new();
    parser.feed(b"[", |_, _| {}).expect("valid so far");
    let error = parser.finish(|_, _| {}).expect_err("incomplete");
    assert_eq!(parser.feed(b"]", |_, _| {}), Err(error.clone()));
    assert_eq!(parser.finish(|_, _| {}), Err(error));

    // So does invalid UTF-8.
    let mut parser = Parser::new();
    let error = parser
        .feed(b"\"a\xff", |_, _| {})
        .expect_err("invalid UTF-8");
    assert_eq!(error.offset(), 2);
    assert_eq!(parser.feed(b"\"", |_, _| {}), Err(error));
}

#[test]
fn depth_limit() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    check_valid(Parser::new, &nested(100), &nested(100));
    // The default allows 128 levels and refuses the 129th, at its bracket.
    let mut parser = Parser::new();
    parser
        .feed(nested(128).as_bytes(), |_, _| {})
        .expect("128 levels");
    parser.finish(|_, _| {}).expect("128 levels");
    let (error, _) = run(Parser::new(), &[nested(129).as_bytes()]).expect_err("too deep");
    assert_eq!(error.offset(), 128);
    assert!(error.message().contains("128"), "{error}");

    let custom = || Parser::new().max_depth(2);
    check_valid(custom, "[{\"a\":1},[2]]", "[{\"a\":1},[2]]");
    let (error, _) = run(custom(), &[b"[[[1]]]"]).expect_err("too deep");
    assert_eq!(error.offset(), 2);
    let (error, _) = run(custom(), &[b"{\"a\":{\"b\":{}}}"]).expect_err("too deep");
    assert_eq!(error.offset(), 10);
    check_valid(|| Parser::new().max_depth(0), "\"scalar\"", "\"scalar\"");
    let (error, _) = run(Parser::new().max_depth(0), &[b"[]"]).expect_err("too deep");
    assert_eq!(error.offset(), 0);

    // A nesting bomb: rejected at the limit, one chunk at a time, without recursion.
    let mut parser = Parser::new();
    let bomb = vec![b'['; 1 << 16];
    let mut result = Ok(());
    for chunk in bomb.chunks(4096) {
        result = parser.feed(chunk, |_, _| {});
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.expect_err("a bomb").offset(), 128);
}

#[test]
fn lenient_skips_prose_fences_and_what_follows() {
    let json = r#"{"name": "Ada", "tags": ["x", "y"], "n": -1.5e2}"#;
    let strict = normalize(run(Parser::new(), &[json.as_bytes()]).expect("valid"));
    for doc in [
        json.to_owned(),
        format!("Here is the JSON you asked for:\n\n```json\n{json}\n```\n\nHope this helps! {{\"not\": parsed"),
        format!("```\n{json}\n```"),
        format!("  \n{json}  trailing prose, }} ] and \u{1f600}"),
        format!("Prose with é and 😀 first: {json}{json}"),
    ] {
        check_valid(Parser::lenient, &doc, json);
        let events = normalize(run(Parser::lenient(), &[doc.as_bytes()]).expect("valid"));
        assert_eq!(events, strict, "{doc:?}");
    }
    // An array at the root, and a value complete before the rest arrives.
    check_valid(
        Parser::lenient,
        "Result: [1, [2], {}] done.",
        "[1, [2], {}]",
    );
    let mut parser = Parser::lenient();
    parser.feed(b"ok: {\"a\": 1}", |_, _| {}).expect("valid");
    assert!(parser.is_complete());
    parser
        .feed(b" and {{{ ]]] junk", |_, _| {})
        .expect("ignored");
    parser.finish(|_, _| {}).expect("complete");
    assert_eq!(parser.text(), "ok: {\"a\": 1} and {{{ ]]] junk");
}

#[test]
fn lenient_errors() {
    // No value at all.
    let (error, _) =
        run(Parser::lenient(), &[b"Sorry, I cannot help with that."]).expect_err("none");
    assert_eq!(error.offset(), 31);
    let (error, _) = run(Parser::lenient(), &[b""]).expect_err("none");
    assert_eq!(error.offset(), 0);
    // Prose with a bracket starts the value there: invalid JSON, reported at the offending byte.
    let (error, _) = run(Parser::lenient(), &[b"Note [sic]: {\"a\": 1}"]).expect_err("prose");
    assert_eq!(error.offset(), 6);
    // A value that never closes.
    let (error, _) = run(Parser::lenient(), &[b"```json\n{\"a\": [1, 2"]).expect_err("cut");
    assert_eq!(error.offset(), 19);
    // The limit and stickiness hold in lenient mode too.
    let mut parser = Parser::lenient().max_depth(1);
    let error = parser
        .feed(b"text {\"a\": {}}", |_, _| {})
        .expect_err("too deep");
    assert_eq!(error.offset(), 11);
    assert_eq!(parser.feed(b"more", |_, _| {}), Err(error));
    // Invalid UTF-8 is an error anywhere, prose included, since the text is `&str`.
    let (error, _) = run(Parser::lenient(), &[b"caf\xe9 {}"]).expect_err("latin-1");
    assert_eq!(error.offset(), 3);
}

#[test]
fn text_is_the_input_as_fed() {
    let mut parser = Parser::lenient();
    parser
        .feed("préambule ".as_bytes(), |_, _| {})
        .expect("valid");
    let e_acute = "é".as_bytes();
    parser.feed(&e_acute[..1], |_, _| {}).expect("valid");
    assert_eq!(parser.text(), "préambule ");
    parser.feed(&e_acute[1..], |_, _| {}).expect("valid");
    assert_eq!(parser.text(), "préambule é");
    // A character cut off by the end of the input is an error at its first byte.
    let mut parser = Parser::new();
    parser
        .feed(b"\"a\xe2\x82", |_, _| {})
        .expect("valid so far");
    let error = parser.finish(|_, _| {}).expect_err("cut character");
    assert_eq!(error.offset(), 2);
}

// ---- Property tests: generated documents, random chunkings. ----

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        // Any Unicode, control characters included (serde_json escapes them).
        any::<String>(),
        "[a-z \"\\\\/é€😀\n\t]{0,12}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_string(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A small deterministic generator for the writer's choices.
struct Choices(u64);

impl Choices {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Writes `value` as JSON with every character escaped one of the ways JSON allows (raw, short
/// escape, `\u` with either case, surrogate pairs) and whitespace in random places, which
/// serde_json's writer never does.
fn write_scrambled(value: &Value, choices: &mut Choices, out: &mut String) {
    let space = |choices: &mut Choices, out: &mut String| {
        for _ in 0..choices.next(3) {
            out.push([' ', '\n', '\t', '\r'][choices.next(4) as usize]);
        }
    };
    let string = |s: &str, choices: &mut Choices, out: &mut String| {
        out.push('"');
        for c in s.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '/' => Some("\\/"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                _ => None,
            };
            let must_escape = c == '"' || c == '\\' || c < ' ';
            match choices.next(3) {
                0 if !must_escape => out.push(c),
                1 if short.is_some() => out.push_str(short.unwrap_or_default()),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        if choices.next(2) == 0 {
                            out.push_str(&format!("\\u{unit:04x}"));
                        } else {
                            out.push_str(&format!("\\u{unit:04X}"));
                        }
                    }
                }
            }
        }
        out.push('"');
    };
    space(choices, out);
    match value {
        Value::String(s) => string(s, choices, out),
        Value::Array(items) => {
            out.push('[');
            space(choices, out);
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_scrambled(item, choices, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            space(choices, out);
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(choices, out);
                string(key, choices, out);
                space(choices, out);
                out.push(':');
                write_scrambled(item, choices, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    space(choices, out);
}

/// Cuts positions for `len` bytes from chunk sizes, used in turn.
fn cuts(len: usize, sizes: &[usize]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        at += size;
        if at >= len || sizes.is_empty() {
            break;
        }
        cuts.push(at);
    }
    cuts
}

fn check_chunked(doc: &str, sizes: &[usize]) -> Result<(), TestCaseError> {
    let expected: Value = serde_json::from_str(doc).expect("a written document");
    let whole = normalize(run(Parser::new(), &[doc.as_bytes()]).expect("valid"));
    check_events(&whole, &expected);
    let chunked = run_split(Parser::new(), doc.as_bytes(), &cuts(doc.len(), sizes))
        .map_err(|(e, _)| TestCaseError::fail(format!("{doc:?}: {e}")))?;
    prop_assert_eq!(normalize(chunked), whole);
    // The same document after a model's prose, through the lenient parser.
    if doc.trim_start().starts_with(['{', '[']) {
        let wrapped = format!("Sure!\n```json\n{doc}\n```");
        let lenient = run_split(
            Parser::lenient(),
            wrapped.as_bytes(),
            &cuts(wrapped.len(), sizes),
        )
        .map_err(|(e, _)| TestCaseError::fail(format!("{wrapped:?}: {e}")))?;
        check_events(&normalize(lenient), &expected);
    }
    Ok(())
}

/// A JSON-ish alphabet for the differential test: mostly grammar, some UTF-8 bytes (valid and not).
const ALPHABET: &[u8] = b"{}[],:\"\\/ \n0123456789-+.eEtrufalsnbu\xc3\xa9\xff\xed\xa0\x80";

proptest! {
    // Modest by default so the suite stays fast; `PROPTEST_CASES=100000` for a long hunt. Failures
    // are reported with their minimal input: keep them as explicit tests above.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(128),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_documents_agree_with_serde_json(
        value in arb_json(),
        sizes in prop::collection::vec(1usize..24, 1..16),
        seed in any::<u64>(),
    ) {
        let compact = value.to_string();
        check_chunked(&compact, &sizes)?;
        let pretty = serde_json::to_string_pretty(&value).expect("serializes");
        check_chunked(&pretty, &sizes)?;
        let mut scrambled = String::new();
        write_scrambled(&value, &mut Choices(seed), &mut scrambled);
        check_chunked(&scrambled, &sizes)?;
    }

    /// On any bytes, the parser accepts exactly what serde_json accepts, reads the same value, and
    /// fails at the same offset however the bytes are split.
    #[test]
    fn arbitrary_bytes_same_verdict_as_serde_json(
        doc in prop::collection::vec(prop::sample::select(ALPHABET), 0..24),
        sizes in prop::collection::vec(1usize..6, 1..8),
    ) {
        differential(&doc, &sizes)?;
    }

    /// Valid documents with one byte deleted, inserted or replaced: near the boundary of validity.
    #[test]
    fn mutated_documents_same_verdict_as_serde_json(
        value in arb_json(),
        at in any::<prop::sample::Index>(),
        byte in prop::sample::select(ALPHABET),
        kind in 0u8..3,
        sizes in prop::collection::vec(1usize..8, 1..8),
    ) {
        let mut doc = value.to_string().into_bytes();
        let i = at.index(doc.len() + 1);
        match kind {
            0 if i < doc.len() => { doc.remove(i); }
            1 if i < doc.len() => doc[i] = byte,
            _ => doc.insert(i, byte),
        }
        differential(&doc, &sizes)?;
    }
}

fn differential(doc: &[u8], sizes: &[usize]) -> Result<(), TestCaseError> {
    let oracle = no_repeats(doc);
    if let Err(e) = &oracle {
        // A limit of serde_json's `f64`, not of the grammar: see `numbers_beyond_f64`.
        if e.to_string().starts_with("number out of range") {
            return Ok(());
        }
    }
    let whole = run(Parser::new(), &[doc]);
    let split = run_split(Parser::new(), doc, &cuts(doc.len(), sizes));
    match (oracle, whole, split) {
        (Ok(expected), Ok(whole), Ok(split)) => {
            let whole = normalize(whole);
            check_events(&whole, &expected);
            prop_assert_eq!(normalize(split), whole);
        }
        (Err(_), Err((whole, _)), Err((split, _))) => prop_assert_eq!(whole, split),
        (oracle, whole, split) => {
            return Err(TestCaseError::fail(format!(
                "{:?}: serde_json {:?}, parser {:?}, split {:?}",
                String::from_utf8_lossy(doc),
                oracle.map(|_| ()),
                whole.map(|_| ()).map_err(|e| e.0),
                split.map(|_| ()).map_err(|e| e.0),
            )))
        }
    }
    Ok(())
}
