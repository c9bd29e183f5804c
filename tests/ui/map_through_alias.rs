use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

type Tags = HashMap<String, String>;

#[derive(Deserialize, JsonSchema, Extract)]
struct Article {
    title: String,
    tags: Tags,
}

fn main() {}
