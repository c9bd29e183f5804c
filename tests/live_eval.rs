#![allow(dead_code)] // the types exist for the schemas the model fills; the runner reads them as JSON
//! The extraction quality of the embedded default, measured: the cases of `tests/eval/cases.json` (short
//! texts over nine types, each with the fields a careful reader would write down) run against the
//! local model, scored as typed values and exactly-right fields. It is how the local preset's defaults
//! were chosen (README, "Quality of the embedded default").
//!
//! In the test command's live tier it runs the library's defaults once, asserts that every case
//! returns a typed value, and prints the score. By hand, every variant the defaults were chosen among,
//! side by side:
//!
//! ```sh
//! EXTRACT_EVAL=all cargo test --test live_eval -- --nocapture
//! ```
//!
//! (`EXTRACT_EVAL=name,name` runs some; `EXTRACT_EVAL_VERBOSE=1` prints each wrong field.)

use std::time::{Duration, Instant};

use extract::{Client, Error, Extract};
use extract_workspace_tests::live_base_url;
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A calendar event mentioned in the text.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Event {
    /// Short name of the event
    name: String,
    date: String,
    participants: Vec<String>,
}

/// Contact details of one person.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Contact {
    /// Full name
    name: String,
    email: Option<String>,
    phone: Option<String>,
}

/// A postal address.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Address {
    /// House number and street
    street: String,
    city: String,
    country: String,
}

/// One line of an order.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Order {
    /// What is ordered
    item: String,
    /// How many
    quantity: u32,
    /// Price of one unit
    unit_price: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "lowercase")]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

/// The sentiment of a review.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Review {
    sentiment: Sentiment,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Employer {
    /// Company or organisation
    name: String,
    city: String,
}

/// A person and where they work.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Employee {
    name: String,
    employer: Employer,
}

/// A book mentioned in the text.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Book {
    title: String,
    author: String,
    /// Year of publication, if the text gives it
    year: Option<u32>,
}

/// A weather report.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Weather {
    city: String,
    #[schemars(range(min = -60, max = 60))]
    temperature_celsius: i32,
    #[schemars(range(max = 100))]
    humidity_percent: u8,
}

/// A product for sale.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Extract)]
struct Product {
    /// Product name
    name: String,
    /// Price in dollars
    price: f64,
    colors: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Case {
    r#type: String,
    text: String,
    expected: Value,
}

fn cases() -> Vec<Case> {
    let text = include_str!("eval/cases.json");
    serde_json::from_str(text).unwrap_or_else(|e| panic!("tests/eval/cases.json: {e}"))
}

/// What the library sends as instructions: its own default, or a wording under test in its place.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Wording {
    /// Whatever the library sends by default now.
    Library,
    /// The default before issue 18, word for word.
    Before,
    /// The default before issue 18, followed by the fields, one a line, with their descriptions.
    Fields,
    /// The default before issue 18, followed by the whole JSON Schema.
    Schema,
    /// A shorter wording that asks for values copied as written.
    Verbatim,
    /// `Verbatim` with the fields, one a line.
    VerbatimFields,
    /// `Fields` with each field's JSON type.
    TypedFields,
}

/// One way of asking: sampling and instructions.
#[derive(Debug, Clone, Copy)]
struct Variant {
    name: &'static str,
    /// `false`: a plain `Client::builder()` (the library's defaults before issue 18); `true`: the
    /// local preset, `extract::local::builder`.
    preset: bool,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    wording: Wording,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "before",
        preset: false,
        temperature: None,
        max_tokens: None,
        wording: Wording::Before,
    },
    Variant {
        name: "t0",
        preset: false,
        temperature: Some(0.0),
        max_tokens: None,
        wording: Wording::Before,
    },
    Variant {
        name: "t0-max256",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::Before,
    },
    Variant {
        name: "t0-max256-fields",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::Fields,
    },
    Variant {
        name: "t0-max256-schema",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::Schema,
    },
    Variant {
        name: "t0-max256-verbatim",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::Verbatim,
    },
    Variant {
        name: "t0-max256-verbatim-fields",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::VerbatimFields,
    },
    Variant {
        name: "t0-max256-typed-fields",
        preset: false,
        temperature: Some(0.0),
        max_tokens: Some(256),
        wording: Wording::TypedFields,
    },
    Variant {
        name: "library",
        preset: true,
        temperature: None,
        max_tokens: None,
        wording: Wording::Library,
    },
];

/// The instructions of issue 17's library, before this evaluation chose.
fn before(name: &str, description: Option<&str>) -> String {
    let mut text = format!(
        "Extract a `{name}` from the user's input. Use only information the input states; where it \
         states nothing for a field that allows null, use null."
    );
    if let Some(description) = description {
        text.push(' ');
        text.push_str(description);
    }
    text
}

fn verbatim(name: &str, description: Option<&str>) -> String {
    let mut text = format!(
        "Fill in a `{name}` from the user's text. Copy each value exactly as the text writes it; \
         use null where the text gives no value."
    );
    if let Some(description) = description {
        text.push(' ');
        text.push_str(description);
    }
    text
}

/// The schema's top-level properties, one a line, with their descriptions (and JSON types).
fn field_lines(schema: &Value, typed: bool) -> String {
    let mut out = String::from("\n\nFields:");
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, prop) in props {
            out.push_str(&format!("\n- {key}"));
            if typed {
                let kind = match prop.get("type") {
                    Some(Value::String(t)) => t.clone(),
                    Some(Value::Array(ts)) => ts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" or "),
                    _ => "object".to_owned(),
                };
                out.push_str(&format!(" ({kind})"));
            }
            if let Some(d) = prop.get("description").and_then(Value::as_str) {
                out.push_str(&format!(": {d}"));
            }
        }
    }
    out
}

fn instructions<T: Extract>(wording: Wording) -> Option<String> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    let (name, description) = (T::NAME, T::DESCRIPTION);
    Some(match wording {
        Wording::Library => return None,
        Wording::Before => before(name, description),
        Wording::Fields => before(name, description) + &field_lines(&schema, false),
        Wording::TypedFields => before(name, description) + &field_lines(&schema, true),
        Wording::Schema => format!("{}\n\nJSON Schema:\n{schema}", before(name, description)),
        Wording::Verbatim => verbatim(name, description),
        Wording::VerbatimFields => verbatim(name, description) + &field_lines(&schema, false),
    })
}

/// One case's result.
struct Outcome {
    value: Result<Value, Error>,
    elapsed: Duration,
    completion_tokens: u64,
}

async fn run<T: Extract + Serialize>(client: &Client, variant: &Variant, text: &str) -> Outcome {
    let started = Instant::now();
    let mut request = client.extract::<T>(text);
    if let Some(t) = variant.temperature {
        request = request.temperature(t);
    }
    if let Some(m) = variant.max_tokens {
        request = request.max_tokens(m);
    }
    if let Some(i) = instructions::<T>(variant.wording) {
        request = request.instructions(i);
    }
    let result = request.await;
    let completion_tokens = match &result {
        Ok(e) => e.usage.completion_tokens,
        Err(Error::Truncated { usage, .. }) => usage.completion_tokens,
        Err(_) => 0,
    };
    Outcome {
        value: result.map(|e| serde_json::to_value(e.value).unwrap_or(Value::Null)),
        elapsed: started.elapsed(),
        completion_tokens,
    }
}

async fn run_case(client: &Client, variant: &Variant, case: &Case) -> Outcome {
    let text = case.text.as_str();
    match case.r#type.as_str() {
        "Event" => run::<Event>(client, variant, text).await,
        "Contact" => run::<Contact>(client, variant, text).await,
        "Address" => run::<Address>(client, variant, text).await,
        "Order" => run::<Order>(client, variant, text).await,
        "Review" => run::<Review>(client, variant, text).await,
        "Employee" => run::<Employee>(client, variant, text).await,
        "Book" => run::<Book>(client, variant, text).await,
        "Weather" => run::<Weather>(client, variant, text).await,
        "Product" => run::<Product>(client, variant, text).await,
        other => panic!("tests/eval/cases.json: no type `{other}` in the runner"),
    }
}

/// A value as a careful reader compares it: strings without case, outer space or a final period;
/// numbers as numbers; lists as sets.
fn normal(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end_matches('.')
                .to_lowercase(),
        ),
        Value::Number(n) => n.as_f64().map_or(Value::Null, |f| {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }),
        Value::Array(items) => {
            let mut items: Vec<String> = items.iter().map(|v| normal(v).to_string()).collect();
            items.sort();
            Value::Array(items.into_iter().map(Value::String).collect())
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normal(v))).collect())
        }
        other => other.clone(),
    }
}

/// The expected leaf fields (`employer.city`) and whether each came out exactly right.
fn score(expected: &Value, actual: Option<&Value>, path: &str, out: &mut Vec<(String, bool)>) {
    match expected {
        Value::Object(fields) => {
            for (key, want) in fields {
                let got = actual.and_then(|a| a.get(key));
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                score(want, got, &path, out);
            }
        }
        want => {
            let right = actual.is_some_and(|got| normal(got) == normal(want));
            out.push((path.to_owned(), right));
        }
    }
}

/// One variant's totals.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    typed: usize,
    truncated: usize,
    other_errors: usize,
    fields: usize,
    exact: usize,
    seconds: f64,
    slowest: f64,
    completion_tokens: u64,
    /// The most completion tokens of a reply that became a value.
    longest_typed: u64,
}

fn client_for(base_url: &str, variant: &Variant) -> Client {
    let builder = if variant.preset {
        extract::local::builder(base_url)
    } else {
        Client::builder()
            .base_url(base_url)
            .model(extract::local::MODEL)
    };
    // A bound on a runaway reply without a token limit, so the variants without one finish; it
    // counts as an error like any other.
    builder
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn evaluate(base_url: &str, variant: &Variant) -> Tally {
    let client = client_for(base_url, variant);
    let cases = cases();
    let verbose = std::env::var("EXTRACT_EVAL_VERBOSE").is_ok_and(|v| v == "1");
    let started = Instant::now();
    // Four at a time: the server's four slots, as the test command starts it.
    let outcomes: Vec<(usize, Outcome)> = futures_util::stream::iter(cases.iter().enumerate())
        .map(|(i, case)| {
            let client = &client;
            async move { (i, run_case(client, variant, case).await) }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut tally = Tally {
        cases: cases.len(),
        seconds: started.elapsed().as_secs_f64(),
        ..Tally::default()
    };
    for (i, outcome) in &outcomes {
        let case = &cases[*i];
        tally.slowest = tally.slowest.max(outcome.elapsed.as_secs_f64());
        tally.completion_tokens += outcome.completion_tokens;
        let mut fields = Vec::new();
        match &outcome.value {
            Ok(value) => {
                tally.typed += 1;
                tally.longest_typed = tally.longest_typed.max(outcome.completion_tokens);
                score(&case.expected, Some(value), "", &mut fields);
            }
            Err(e) => {
                if matches!(e, Error::Truncated { .. }) {
                    tally.truncated += 1;
                } else {
                    tally.other_errors += 1;
                }
                score(&case.expected, None, "", &mut fields);
                if verbose {
                    eprintln!("  [{}] {:?}: {e}", variant.name, case.text);
                }
            }
        }
        tally.fields += fields.len();
        tally.exact += fields.iter().filter(|(_, right)| *right).count();
        if verbose {
            if let Ok(value) = &outcome.value {
                for (path, right) in &fields {
                    if !right {
                        eprintln!(
                            "  [{}] {:?}: {path} = {} (expected {})",
                            variant.name,
                            case.text,
                            value
                                .pointer(&format!("/{}", path.replace('.', "/")))
                                .unwrap_or(&Value::Null),
                            case.expected
                                .pointer(&format!("/{}", path.replace('.', "/")))
                                .unwrap_or(&Value::Null),
                        );
                    }
                }
            }
        }
    }
    tally
}

/// A line of the score table, written to the process's stderr itself: libtest captures `println!`
/// of a passing test, and the test command is where the score is read.
fn out(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn print_row(variant: &Variant, t: &Tally) {
    out(format!(
        "| {} | {}/{} | {}/{} ({:.0}%) | {} | {} | {:.0} s | {:.1} s | {} | {} |",
        variant.name,
        t.typed,
        t.cases,
        t.exact,
        t.fields,
        100.0 * t.exact as f64 / t.fields.max(1) as f64,
        t.truncated,
        t.other_errors,
        t.seconds,
        t.slowest,
        t.completion_tokens,
        t.longest_typed,
    ));
}

fn print_header() {
    out(
        "| variant | typed | exact fields | truncated | other errors | wall | slowest | completion tokens | longest typed reply |"
            .to_owned(),
    );
    out("|---|---|---|---|---|---|---|---|---|".to_owned());
}

#[tokio::test]
async fn eval() {
    let Some(base_url) = live_base_url() else {
        return;
    };
    let chosen = std::env::var("EXTRACT_EVAL").unwrap_or_default();
    let selected: Vec<&Variant> = match chosen.as_str() {
        "" => VARIANTS.iter().filter(|v| v.name == "library").collect(),
        "all" => VARIANTS.iter().collect(),
        names => VARIANTS
            .iter()
            .filter(|v| names.split(',').any(|n| n.trim() == v.name))
            .collect(),
    };
    assert!(
        !selected.is_empty(),
        "EXTRACT_EVAL={chosen} names no variant"
    );
    print_header();
    let mut library = None;
    for variant in selected {
        let tally = evaluate(&base_url, variant).await;
        print_row(variant, &tally);
        if variant.name == "library" {
            library = Some(tally);
        }
    }
    // The library's defaults are held to a typed value for every case; the score is a figure to
    // read, not a bound (a 135M model's exact fields move with the server's build).
    if let Some(t) = library {
        assert_eq!(
            t.typed, t.cases,
            "with the local preset's defaults every case returns a typed value: {t:?}"
        );
    }
}
