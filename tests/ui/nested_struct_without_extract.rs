use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct Address {
    street: String,
    city: String,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Person {
    name: String,
    address: Address,
}

fn main() {}
