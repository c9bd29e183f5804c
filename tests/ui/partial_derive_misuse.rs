use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

// The partial form already has these.
#[derive(Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(PartialEq, Debug))]
struct Person {
    name: String,
}

// An enum is its own partial form.
#[derive(Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(PartialEq))]
enum Mood {
    Happy,
    Sad,
}

// std's derives would bound `T`, not its partial form.
#[derive(Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(PartialEq))]
struct Page<T> {
    items: Vec<T>,
}

fn main() {}
