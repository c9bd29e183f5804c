//! Finding the JSON value in a reply. Constrained modes return bare JSON, but servers and models
//! still wrap it in a code fence or a sentence now and then; the `Prompt` mode expects that. Repairs
//! are limited to what is unambiguous (trailing commas); anything else is reported to the model.

use serde_json::Value;

/// How many candidate starts (`{` or `[`) to try in prose before giving up.
const MAX_CANDIDATES: usize = 16;

pub(crate) fn locate(text: &str) -> Result<Value, String> {
    let text = text.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Err("the reply is empty; answer with the JSON value".into());
    }
    let first_error = match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(err) => err,
    };
    if first_error.to_string().contains("recursion limit") {
        return Err(format!("the reply is nested too deeply: {first_error}"));
    }
    if let Some(fenced) = fenced(text) {
        if let Some(value) = parse_lenient(fenced) {
            return Ok(value);
        }
    }
    for (start, _) in text.match_indices(['{', '[']).take(MAX_CANDIDATES) {
        if let Some(end) = balanced_end(&text[start..]) {
            if let Some(value) = parse_lenient(&text[start..start + end]) {
                return Ok(value);
            }
        }
    }
    if let Some(value) = parse_lenient(text) {
        return Ok(value);
    }
    Err(format!("the reply is not valid JSON: {first_error}"))
}

fn parse_lenient(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok().or_else(|| {
        let repaired = without_trailing_commas(text)?;
        serde_json::from_str(&repaired).ok()
    })
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
