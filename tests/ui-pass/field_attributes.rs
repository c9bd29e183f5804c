// Fields that serde skips or whose schema schemars takes from another type are checked as serde and
// schemars see them: a skipped map is not checked, and `with = "String"` is checked as a `String`.

use std::collections::HashMap;

use extract::Extract;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A type with no `JsonSchema` and no `Extract`: its schema comes from `#[schemars(with = ...)]`.
struct Isbn(String);

impl<'de> Deserialize<'de> for Isbn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Isbn)
    }
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Book {
    title: String,
    #[schemars(with = "String")]
    isbn: Isbn,
    #[serde(skip)]
    #[allow(dead_code)]
    cache: HashMap<String, String>,
}

fn main() {
    let book: Book = serde_json::from_str(r#"{"title": "Dune", "isbn": "978-0441013593"}"#).unwrap();
    assert_eq!(book.title, "Dune");
    assert_eq!(book.isbn.0, "978-0441013593");
    assert!(book.cache.is_empty());
}
