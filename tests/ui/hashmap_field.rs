use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Product {
    name: String,
    attributes: HashMap<String, String>,
}

fn main() {}
