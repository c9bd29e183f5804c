use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(name = "has space")]
struct Person {
    name: String,
}

fn main() {}
