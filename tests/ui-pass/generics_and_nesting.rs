// A generic container deriving `Extract` is enforceable when its parameter is, so `Page<Item>` and
// `Page<String>` both extract, and a nested `Extract` type can be a field.

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema, Extract)]
struct Page<T> {
    items: Vec<T>,
    next: Option<u32>,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Item {
    title: String,
    price: Option<f64>,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Catalog {
    first: Page<Item>,
    labels: Page<String>,
    featured: Box<Item>,
}

fn assert_extract<T: Extract>() {}

fn main() {
    assert_extract::<Page<Item>>();
    assert_extract::<Page<String>>();
    assert_extract::<Catalog>();
}
