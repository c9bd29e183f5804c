use extract::Extract;
use schemars::JsonSchema;

#[derive(JsonSchema, Extract)]
struct Person {
    name: String,
    age: u32,
}

fn main() {}
