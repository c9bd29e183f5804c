use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Event {
    name: String,
    payload: serde_json::Value,
}

fn main() {}
