use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(validate = check_range)]
struct Range {
    start: u32,
    end: u32,
}

// Returns `bool`; `validate` needs `Result<(), E>` so the model can be told what is wrong.
fn check_range(range: &Range) -> bool {
    range.start <= range.end
}

fn main() {}
