use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(name = "person")]
#[extract(name = "human")]
struct Person {
    name: String,
}

fn main() {}
