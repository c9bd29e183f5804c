use extract::Extract;
use schemars::JsonSchema;

// A generic type is checked where it is used with concrete parameters: which bounds `T` needs for
// `Page<T>: Deserialize` is serde's to decide, so the derive does not guess them at the definition.
#[derive(JsonSchema, Extract)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(JsonSchema, serde::Deserialize, Extract)]
struct Item {
    title: String,
}

fn first<T: Extract>() {}

fn main() {
    first::<Page<Item>>();
}
