use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Address {
    street: String,
    extra: HashMap<String, String>,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Person {
    name: String,
    address: Address,
}

fn main() {}
