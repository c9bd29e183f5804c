use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Report {
    rows: Option<Vec<HashMap<String, f64>>>,
}

fn main() {}
