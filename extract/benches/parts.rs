//! The parts of an extraction that cost CPU, each beside the baseline a hand-written client would
//! pay for the same step:
//!
//! - `prepare/*`: what is done once per type (schemars, lowering, validator compilation);
//! - `request_body/*`: one request body, against the body built as a `serde_json::Value` with the
//!   schema cloned in (how it was built before) and a hand-written struct with the schema text;
//! - `reply/*`: reading the provider's envelope (a chat completion) against a typed serde struct;
//! - `judge/*`: judging replies of 200 B, 5 KiB and 200 KiB (locate, validate, deserialize) against
//!   a bare `serde_json::from_str` of the same text.
//!
//! ```sh
//! cargo bench -p extract --bench parts            # about three minutes
//! cargo bench -p extract --bench parts -- judge   # one group
//! ```

// criterion's macros write undocumented functions.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use extract::__bench as internals;
use extract::{Dialect, Extract, Mode};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use common::{invoice_reply, CalendarEvent, Invoice, Person};

fn prepare(c: &mut Criterion) {
    let mut group = c.benchmark_group("prepare");
    fn per_type<T: Extract>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let original = extract::schema::original_schema::<T>();
        group.bench_function(BenchmarkId::new("schemars", T::NAME), |b| {
            b.iter(extract::schema::original_schema::<T>)
        });
        group.bench_function(BenchmarkId::new("lower", T::NAME), |b| {
            b.iter(|| internals::lower_both::<T>(black_box(&original)))
        });
        group.bench_function(BenchmarkId::new("validator", T::NAME), |b| {
            b.iter(|| internals::compile_validator(black_box(&original)))
        });
        group.bench_function(BenchmarkId::new("all", T::NAME), |b| {
            b.iter(internals::prepare::<T>)
        });
    }
    per_type::<CalendarEvent>(&mut group);
    per_type::<Invoice>(&mut group);
    per_type::<Person>(&mut group);
    group.finish();
}

/// The request body a careful hand-written client sends: the schema as text written once, the
/// messages per call.
#[derive(Serialize)]
struct HandBody<'a> {
    model: &'a str,
    messages: [HandMessage<'a>; 2],
    response_format: HandFormat<'a>,
}
#[derive(Serialize)]
struct HandMessage<'a> {
    role: &'a str,
    content: &'a str,
}
#[derive(Serialize)]
struct HandFormat<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    json_schema: HandSchema<'a>,
}
#[derive(Serialize)]
struct HandSchema<'a> {
    name: &'a str,
    schema: &'a RawValue,
    strict: bool,
}

fn request_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_body");
    let text = "Alice and Bob are going to a science fair on Friday.";
    fn per_type<T: Extract>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        text: &str,
    ) {
        let prepared = internals::prepared::<T>();
        let body = |p: &internals::Prepared| {
            internals::request_body(p, Dialect::OpenAiCompatible, Mode::JsonSchema, "m", text)
                .unwrap_or_default()
        };
        let sent = body(&prepared);
        group.throughput(Throughput::Bytes(sent.len() as u64));
        group.bench_function(BenchmarkId::new("extract", T::NAME), |b| {
            b.iter(|| body(black_box(&prepared)))
        });
        // The same body as a `Value`, the schema deep-cloned into it at each call.
        let strict = internals::strict(&prepared);
        let sent_value: Value = serde_json::from_slice(&sent).unwrap_or_default();
        let system = sent_value["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        group.bench_function(BenchmarkId::new("value_clone", T::NAME), |b| {
            b.iter(|| {
                let body = json!({
                    "model": "m",
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": text},
                    ],
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": T::NAME, "schema": black_box(strict).clone(), "strict": true},
                    },
                });
                serde_json::to_vec(&body).unwrap_or_default()
            })
        });
        let schema =
            RawValue::from_string(internals::strict_json(&prepared).to_owned()).unwrap_or_default();
        group.bench_function(BenchmarkId::new("hand_written", T::NAME), |b| {
            b.iter(|| {
                let body = HandBody {
                    model: "m",
                    messages: [
                        HandMessage {
                            role: "system",
                            content: &system,
                        },
                        HandMessage {
                            role: "user",
                            content: text,
                        },
                    ],
                    response_format: HandFormat {
                        kind: "json_schema",
                        json_schema: HandSchema {
                            name: T::NAME,
                            schema: black_box(&schema),
                            strict: true,
                        },
                    },
                };
                serde_json::to_vec(&body).unwrap_or_default()
            })
        });
    }
    per_type::<CalendarEvent>(&mut group, text);
    per_type::<Person>(&mut group, text);
    group.finish();
}

/// The reply envelope as a hand-written client reads it.
#[derive(Deserialize)]
struct HandCompletion {
    choices: Vec<HandChoice>,
}
#[derive(Deserialize)]
struct HandChoice {
    message: HandReply,
}
#[derive(Deserialize)]
struct HandReply {
    content: String,
}

fn reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply");
    let body = serde_json::to_vec(&json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": common::EVENT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}
    }))
    .unwrap_or_default();
    assert!(internals::parse_reply(Dialect::OpenAiCompatible, &body));
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("extract", |b| {
        b.iter(|| internals::parse_reply(Dialect::OpenAiCompatible, black_box(&body)))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| {
            serde_json::from_slice::<HandCompletion>(black_box(&body))
                .ok()
                .and_then(|c| c.choices.into_iter().next())
                .map(|c| c.message.content)
        })
    });
    group.finish();
}

fn judge(c: &mut Criterion) {
    let mut group = c.benchmark_group("judge");
    let invoice = internals::prepared::<Invoice>();
    for (size, bytes) in [("200B", 200), ("5KiB", 5 * 1024), ("200KiB", 200 * 1024)] {
        let text = invoice_reply(bytes);
        assert!(internals::judge::<Invoice>(&invoice, &text).is_ok());
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(BenchmarkId::new("extract", size), |b| {
            b.iter(|| internals::judge::<Invoice>(&invoice, black_box(&text)))
        });
        group.bench_function(BenchmarkId::new("serde_json", size), |b| {
            b.iter(|| serde_json::from_str::<Invoice>(black_box(&text)))
        });
    }
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = parts;
    config = short();
    targets = prepare, request_body, reply, judge
}
criterion_main!(parts);
