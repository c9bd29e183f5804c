use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(title = "Person")]
struct Person {
    name: String,
}

fn main() {}
