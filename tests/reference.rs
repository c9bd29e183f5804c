//! The reference set behind the README's token figures (`scripts/bench-tokens.py`): every schema
//! `extract` sends for it passes the strict rules, carries no title, keeps a definition only where
//! writing it out at each use would be longer, and goes on the wire as its compact serialization.

use std::collections::BTreeMap;

use extract::schema::{problems, strict_schema, Target};
use extract::{Client, Extract};
use extract_workspace_tests::reference::*;
use extract_workspace_tests::{bodies, completion, for_each_reference_type, ok};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

/// Every schema node under `schema`, with its JSON Pointer (property maps and `$defs` are walked
/// through, not taken for schemas).
fn nodes<'a>(schema: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    let Value::Object(map) = schema else { return };
    out.push((path.clone(), schema));
    for (key, value) in map {
        match (key.as_str(), value) {
            ("properties" | "$defs", Value::Object(children)) => {
                for (name, child) in children {
                    nodes(child, format!("{path}/{key}/{name}"), out);
                }
            }
            ("anyOf" | "allOf" | "prefixItems", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    nodes(item, format!("{path}/{key}/{i}"), out);
                }
            }
            ("items" | "additionalProperties", child) => nodes(child, format!("{path}/{key}"), out),
            _ => {}
        }
    }
}

fn check<T: Extract>() {
    let name = T::NAME;
    assert_eq!(problems::<T>(Target::OpenAi), vec![], "{name}");
    let schema = strict_schema::<T>();
    let mut all = Vec::new();
    nodes(&schema, String::new(), &mut all);

    for (path, node) in &all {
        for keyword in ["title", "$schema", "default", "format", "examples"] {
            assert!(node.get(keyword).is_none(), "{name}{path}: `{keyword}`");
        }
        if let Some(Value::Array(options)) = node.get("anyOf") {
            assert!(
                options.iter().all(|o| o.get("anyOf").is_none() || o.as_object().is_some_and(|m| m.len() > 1)),
                "{name}{path}: a union nested in a union"
            );
        }
    }

    // A definition stays only if it refers to itself (it cannot be written out) or is used more
    // than once; `lower`'s unit tests check that it is kept only where that is shorter.
    let mut uses: BTreeMap<String, usize> = BTreeMap::new();
    for (_, node) in &all {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            *uses.entry(reference.to_owned()).or_default() += 1;
        }
    }
    if let Some(Value::Object(defs)) = schema.get("$defs") {
        for (def, body) in defs {
            let reference = format!("#/$defs/{def}");
            let recursive = body.to_string().contains(&format!("\"{reference}\""));
            assert!(
                recursive || uses.get(&reference).copied().unwrap_or(0) > 1,
                "{name}: `{def}` is kept for one use"
            );
        }
    }
}

#[test]
fn every_reference_schema_is_strict_and_lean() {
    macro_rules! visit {
        ($t:ident) => {
            check::<$t>()
        };
    }
    for_each_reference_type!(visit);
}

#[tokio::test]
async fn the_schema_goes_on_the_wire_as_its_compact_serialization() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(completion("{}")))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .max_reasks(0)
        .build()
        .expect("a client");
    let _ = client.extract::<JobPosting>("text").await;
    let requests = server.received_requests().await.unwrap_or_default();
    let body = String::from_utf8_lossy(&requests[0].body).into_owned();
    let schema = serde_json::to_string(&strict_schema::<JobPosting>()).expect("JSON");
    assert!(body.contains(&schema), "{body}");
    // What the body says is what a reader of it gets back.
    let sent = &bodies(&server).await[0];
    assert_eq!(
        sent["response_format"]["json_schema"]["schema"],
        strict_schema::<JobPosting>()
    );
}
