use std::collections::BTreeMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Inventory {
    counts: BTreeMap<String, u32>,
}

fn main() {}
