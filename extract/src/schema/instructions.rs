//! The words that describe a type to the model: the default instructions, and the schema spelled out
//! for modes where the API does not carry it. Computed from the type alone (once, into its
//! [`Prepared`](super::Prepared)) or from its schema.

/// The instructions when neither the request nor the type gives any; written once per type, into its
/// [`Prepared`].
pub(crate) fn default_instructions(name: &str, description: Option<&str>) -> String {
    let mut text = format!(
        "Extract a `{name}` from the user's input. Use only information the input states; where it \
         states nothing for a field that allows null, use null."
    );
    if let Some(description) = description {
        text.push(' ');
        text.push_str(description);
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
