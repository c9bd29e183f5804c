use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Catalog {
    pages: Page<HashMap<String, String>>,
}

fn main() {}
