use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Person {
    #[extract(description = "The person's full name")]
    name: String,
}

fn main() {}
