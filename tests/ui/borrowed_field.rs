use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Person<'a> {
    name: &'a str,
}

fn main() {}
