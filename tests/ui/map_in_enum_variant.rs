use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
enum Shape {
    Circle { radius: f64 },
    Custom { params: HashMap<String, f64> },
}

fn main() {}
