use extract::Extract;
use serde::Deserialize;

#[derive(Deserialize, Extract)]
struct Person {
    name: String,
    age: u32,
}

fn main() {}
