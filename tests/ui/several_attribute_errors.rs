use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(name = "my person", title = "Person")]
#[extract(description = "A person.", description = "Someone.")]
struct Person {
    name: String,
}

fn main() {}
