//! The first turns of a conversation: the system turn (the instructions, and the schema where the API
//! does not carry it) and the input as the user's turns. What follows a failed reply is [`reask`](crate::reask)'s.

use crate::schema::{schema_instructions, Prepared};
use crate::vocab::{Input, Mode, Role, Turn};

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
