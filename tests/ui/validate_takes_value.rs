use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(validate = check_range)]
struct Range {
    start: u32,
    end: u32,
}

// Takes `Range` by value; `validate` borrows the value it checks.
fn check_range(range: Range) -> Result<(), String> {
    if range.start <= range.end {
        Ok(())
    } else {
        Err("`start` must not be after `end`".to_owned())
    }
}

fn main() {}
