//! The two turns that tell the model what was wrong with its last reply (the first turns are
//! [`turns`](crate::turns)'s). The context stays bounded: a reask quotes only the latest failed
//! reply (cut to a fixed size) and a bounded list of errors, never a growing history.

use crate::error::Violation;
use crate::schema::Prepared;
use crate::text::clip;
use crate::vocab::Mode;
use crate::vocab::Turn;

/// The most characters of a failed reply quoted back to the model.
pub(crate) const MAX_QUOTED_CHARS: usize = 8_192;
/// The most errors listed in one reask.
const MAX_LISTED_ERRORS: usize = 20;
/// The most bytes of one error's path, and of its message, in a reask (the message quotes the
/// offending value, which can be megabytes); each says how much was cut.
const MAX_ERROR_BYTES: usize = 300;

/// The turns appended after a failed attempt: the model's reply, then what is wrong with it.
pub(crate) fn turns(
    schema: &Prepared,
    mode: Mode,
    raw: &str,
    errors: &[Violation],
    attempt: u32,
) -> Vec<Turn> {
    let quoted = quote(raw);
    let feedback = feedback(errors);
    if mode == Mode::Tools {
        let id = format!("call_extract_{attempt}");
        vec![
            Turn::ToolCall {
                id: id.clone(),
                name: schema.name.to_owned(),
                arguments: quoted,
            },
            Turn::ToolResult {
                id,
                content: feedback,
            },
        ]
    } else {
        vec![Turn::Assistant(quoted), Turn::User(feedback)]
    }
}

fn quote(raw: &str) -> String {
    match raw.char_indices().nth(MAX_QUOTED_CHARS) {
        None => raw.to_owned(),
        Some((cut, _)) => format!(
            "{}… [{} more bytes not shown]",
            &raw[..cut],
            raw.len() - cut
        ),
    }
}

fn feedback(errors: &[Violation]) -> String {
    let mut text = String::from(
        "That reply is not valid. Fix these problems and reply again with the whole corrected JSON value only:\n",
    );
    for err in errors.iter().take(MAX_LISTED_ERRORS) {
        let path = if err.path.is_empty() {
            "(root)"
        } else {
            &err.path
        };
        let path = clip(path, MAX_ERROR_BYTES);
        let message = clip(&err.message, MAX_ERROR_BYTES);
        text.push_str(&format!("- {path}: {message}\n"));
    }
    if errors.len() > MAX_LISTED_ERRORS {
        text.push_str(&format!(
            "- and {} more\n",
            errors.len() - MAX_LISTED_ERRORS
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_bounded() {
        let raw = "x".repeat(100_000);
        let quoted = quote(&raw);
        assert!(quoted.len() < MAX_QUOTED_CHARS + 64, "{}", quoted.len());
        assert!(quoted.ends_with("[91808 more bytes not shown]"));
    }

    #[test]
    fn feedback_lists_paths_and_is_bounded() {
        let errors: Vec<_> = (0..50)
            .map(|i| Violation::new(format!("/items/{i}"), "y".repeat(1000)))
            .collect();
        let text = feedback(&errors);
        assert!(text.contains("- /items/0: "));
        assert!(text.contains("- and 30 more"));
        assert!(text.contains(&format!("{}… [cut 700 bytes]\n", "y".repeat(300))));
        let long_path = Violation::new(format!("/{}", "k".repeat(5_000)), "bad");
        let text = feedback(&[long_path]);
        assert!(text.contains("… [cut 4701 bytes]: bad"), "{text}");
        assert!(text.len() < 7_000, "{}", text.len());
    }
}
