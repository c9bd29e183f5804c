//! The messages of an extraction: the first request's turns, and the two turns that tell the model
//! what was wrong with its last reply. The context stays bounded: a reask quotes only the latest failed
//! reply (cut to a fixed size) and a bounded list of errors, never a growing history.

use crate::dialect::Turn;
use crate::error::Violation;
use crate::judge::clip;
use crate::request::{Input, Mode, Role};
use crate::schema::Prepared;

/// The most characters of a failed reply quoted back to the model.
pub(crate) const MAX_QUOTED_CHARS: usize = 8_192;
/// The most errors listed in one reask.
const MAX_LISTED_ERRORS: usize = 20;
/// The most bytes of one error's path, and of its message, in a reask (the message quotes the
/// offending value, which can be megabytes); each says how much was cut.
const MAX_ERROR_BYTES: usize = 300;

/// The system turn and the input. The user's text always goes in a user turn of its own, never into
/// the instructions: text from the outside world must not gain the authority of instructions.
pub(crate) fn initial_turns(
    schema: &Prepared,
    mode: Mode,
    instructions: Option<&str>,
    input: &Input,
) -> Vec<Turn> {
    let mut system = match instructions.or(schema.instructions) {
        Some(text) => text.to_owned(),
        None => schema.default_instructions.clone(),
    };
    if matches!(mode, Mode::JsonObject | Mode::Prompt) {
        system.push_str("\n\n");
        system.push_str(&schema_instructions(&schema.strict));
    }
    let mut turns = vec![Turn::System(system)];
    push_input(&mut turns, input);
    // A history that ends with the assistant reads, to llama.cpp and others, as the start of the
    // assistant's next message to continue (a prefill), which the schema's grammar then cannot
    // match: the extraction is asked for in a user turn of its own.
    if matches!(turns.last(), Some(Turn::Assistant(_))) {
        turns.push(Turn::User(format!(
            "Extract the `{}` from the conversation above.",
            schema.name
        )));
    }
    turns
}

/// The input as turns: the text as the user's message, or the history as it is. The text never goes
/// into the instructions: a text that says "ignore the above" is then only the user talking.
pub(crate) fn push_input(turns: &mut Vec<Turn>, input: &Input) {
    match input {
        Input::Text(text) => turns.push(Turn::User(text.clone())),
        Input::Messages(messages) => turns.extend(messages.iter().map(|m| match m.role {
            Role::System => Turn::System(m.content.clone()),
            Role::User => Turn::User(m.content.clone()),
            Role::Assistant => Turn::Assistant(m.content.clone()),
        })),
    }
}

/// The instructions when neither the request nor the type gives any; written once per type, into its
/// [`Prepared`]. They name the fields, one a line with its description: in the constrained modes the
/// schema travels only as a grammar, which the model never reads, and SmolLM2-135M filled 63 of 100
/// fields of the evaluation exactly with the list against 57 without it (README, "Quality of the
/// embedded default").
pub(crate) fn default_instructions(
    name: &str,
    description: Option<&str>,
    schema: &serde_json::Value,
) -> String {
    let mut text = format!(
        "Extract a `{name}` from the user's input. Use only information the input states; where it \
         states nothing for a field that allows null, use null."
    );
    if let Some(description) = description {
        text.push(' ');
        text.push_str(description);
    }
    if let Some(fields) = schema.get("properties").and_then(|p| p.as_object()) {
        if !fields.is_empty() {
            text.push_str("\n\nFields:");
        }
        for (key, field) in fields {
            text.push_str("\n- ");
            text.push_str(key);
            if let Some(about) = field.get("description").and_then(|d| d.as_str()) {
                text.push_str(": ");
                text.push_str(about);
            }
        }
    }
    text
}

/// The schema spelled out for modes where the API does not carry it.
pub(crate) fn schema_instructions(schema: &serde_json::Value) -> String {
    format!(
        "Reply with one JSON value that matches this JSON Schema, and nothing else: no prose, no code \
         fence.\n{schema}"
    )
}

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
