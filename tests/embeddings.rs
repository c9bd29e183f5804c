//! Embeddings against scripted servers (wiremock): the request each dialect sends (OpenAI and
//! compatible servers, Workers AI's native and OpenAI-compatible endpoints, AI Gateway, Ollama), the
//! reply shapes they document, batching at the provider's limit with the order kept and the usage
//! summed, and every way a reply can be wrong or fail.

use std::time::Duration;

use extract::dialect::GatewayProvider;
use extract::{Client, ClientBuilder, Dialect, Error, Usage};
use extract_workspace_tests::{bodies, ok, Script};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ACCOUNT: &str = "acc-123";
const BGE: &str = "@cf/baai/bge-base-en-v1.5";

fn fast(builder: ClientBuilder) -> Client {
    builder
        .initial_backoff(Duration::from_millis(1))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid configuration")
}

fn compatible(server: &MockServer) -> Client {
    fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("chat-model"),
    )
}

/// A vector that says which text it is for: texts are `t{n}`, the vector `[n, 1]`.
fn vector_for(text: &str) -> Vec<f32> {
    let n: f32 = text.trim_start_matches('t').parse().unwrap_or(-1.0);
    vec![n, 1.0]
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

/// Answers an OpenAI-shaped embeddings request with one vector per input, in reverse order (the
/// `index` says where each goes), billing one token per input. Replies to the first request come
/// last when `stagger` is set, so order kept under concurrency is not an accident of timing.
struct OpenAiEcho {
    stagger: bool,
}

impl Respond for OpenAiEcho {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let inputs: Vec<String> = body["input"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector_for(t)}))
            .collect();
        data.reverse();
        let first = inputs.first().map_or(0.0, |t| vector_for(t)[0]);
        let delay = if self.stagger {
            Duration::from_millis(200u64.saturating_sub(first as u64 * 2))
        } else {
            Duration::ZERO
        };
        ok(json!({
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": inputs.len(), "total_tokens": inputs.len()}
        }))
        .set_delay(delay)
    }
}

/// Answers Workers AI's native embeddings request in the Cloudflare envelope.
struct WorkersAiEcho;

impl Respond for WorkersAiEcho {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let data: Vec<Vec<f32>> = body["text"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(vector_for).collect())
            .unwrap_or_default();
        ok(json!({
            "result": {"shape": [data.len(), 2], "data": data, "pooling": "mean"},
            "success": true,
            "errors": [],
            "messages": []
        }))
    }
}

fn openai_list(vectors: &[(usize, Vec<f32>)]) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json!({"object": "list", "data": data, "model": "m", "usage": {"prompt_tokens": 3, "total_tokens": 3}})
}

#[tokio::test]
async fn openai_sends_its_default_model_and_reads_vectors_by_index() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(ok(json!({
            "object": "list",
            "data": [
                {"object": "embedding", "index": 1, "embedding": [0.0, 1.0, 0.5]},
                {"object": "embedding", "index": 0, "embedding": [1.0, 0.0, -0.5]}
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 8, "total_tokens": 8}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .dialect(Dialect::OpenAi)
            .api_key("sk-test"),
    );
    assert_eq!(client.embedding_model(), "text-embedding-3-small");
    let embeddings = client
        .embed(["first text", "second text"])
        .await
        .expect("embeddings");
    assert_eq!(
        bodies(&server).await[0],
        json!({"model": "text-embedding-3-small", "input": ["first text", "second text"]})
    );
    assert_eq!(
        embeddings.vectors,
        [vec![1.0, 0.0, -0.5], vec![0.0, 1.0, 0.5]]
    );
    assert_eq!(embeddings.dimensions(), 3);
    assert_eq!(embeddings.model, "text-embedding-3-small");
    let usage = embeddings.usage.expect("usage");
    assert_eq!((usage.prompt_tokens, usage.total_tokens), (8, 8));
}

#[tokio::test]
async fn the_model_comes_from_the_request_then_the_client_then_the_chat_model() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(OpenAiEcho { stagger: false })
        .mount(&server)
        .await;
    let plain = compatible(&server);
    assert_eq!(plain.embedding_model(), "chat-model");
    plain.embed(["t0"]).await.expect("embeddings");
    let configured = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("chat-model")
            .embedding_model("nomic-embed-text"),
    );
    configured.embed(["t0"]).await.expect("embeddings");
    configured
        .embed(["t0"])
        .model("all-minilm")
        .await
        .expect("embeddings");
    let models: Vec<Value> = bodies(&server)
        .await
        .iter()
        .map(|b| b["model"].clone())
        .collect();
    assert_eq!(models, ["chat-model", "nomic-embed-text", "all-minilm"]);
}

#[tokio::test]
async fn no_texts_send_no_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(0)
        .mount(&server)
        .await;
    let embeddings = compatible(&server)
        .embed(Vec::<String>::new())
        .await
        .expect("nothing to do");
    assert!(embeddings.is_empty());
    assert_eq!(embeddings.dimensions(), 0);
    assert_eq!(embeddings.usage, None);
}

#[tokio::test]
async fn batches_split_at_the_size_keep_the_order_and_sum_the_usage() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(OpenAiEcho { stagger: true })
        .expect(4)
        .mount(&server)
        .await;
    let embeddings = compatible(&server)
        .embed(texts(10))
        .batch_size(3)
        .concurrency(4)
        .await
        .expect("embeddings");
    let sizes: Vec<usize> = bodies(&server)
        .await
        .iter()
        .map(|b| b["input"].as_array().map_or(0, Vec::len))
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [1, 3, 3, 3]);
    let order: Vec<f32> = embeddings.vectors.iter().map(|v| v[0]).collect();
    assert_eq!(order, (0..10).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(embeddings.usage.map(|u| u.prompt_tokens), Some(10));
}

#[tokio::test]
async fn an_openai_compatible_server_gets_batches_of_64() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(2)
        .mount(&server)
        .await;
    let embeddings = compatible(&server)
        .embed(texts(65))
        .await
        .expect("embeddings");
    assert_eq!(embeddings.len(), 65);
    assert_eq!(embeddings.vectors[64], [64.0, 1.0]);
}

#[tokio::test]
async fn workers_ai_native_runs_the_model_with_text_in_batches_of_100() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/client/v4/accounts/{ACCOUNT}/ai/run/{BGE}")))
        .and(header("authorization", "Bearer cf-token"))
        .respond_with(WorkersAiEcho)
        .expect(3)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!(
                "{}/client/v4/accounts/{ACCOUNT}/ai/run",
                server.uri()
            ))
            .dialect(Dialect::WorkersAiNative)
            .api_key("cf-token")
            .model("@cf/meta/llama-3.1-8b-instruct"),
    );
    assert_eq!(client.embedding_model(), BGE);
    let embeddings = client.embed(texts(250)).await.expect("embeddings");
    let sent = bodies(&server).await;
    assert_eq!(sent[0], json!({"text": texts(100)}));
    let sizes: Vec<usize> = sent
        .iter()
        .map(|b| b["text"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(embeddings.len(), 250);
    assert!(embeddings
        .vectors
        .iter()
        .enumerate()
        .all(|(i, v)| v[0] == i as f32));
    assert_eq!(embeddings.usage, None, "the native reply reports no usage");
    assert_eq!(embeddings.model, BGE);
}

#[tokio::test]
async fn workers_ai_native_failures_come_in_the_cloudflare_envelope() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            // Out of capacity, with a 200: retried like a 503.
            ok(json!({"result": null, "success": false, "errors": [{"code": 3040, "message": "Capacity temporarily exceeded"}]})),
            ResponseTemplate::new(400).set_body_json(json!({
                "result": null, "success": false,
                "errors": [{"code": 5006, "message": "Error: oneOf at '/' not met, 0 matches"}],
                "messages": []
            })),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!(
                "{}/client/v4/accounts/{ACCOUNT}/ai/run",
                server.uri()
            ))
            .dialect(Dialect::WorkersAiNative)
            .model("m"),
    );
    match client.embed(["t0"]).await {
        Err(Error::Api {
            status: 400,
            code,
            message,
        }) => {
            assert_eq!(code.as_deref(), Some("5006"));
            assert!(message.contains("oneOf"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn workers_ai_native_shape_must_match_its_data() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({
            "result": {"shape": [2, 3], "data": [[0.1, 0.2, 0.3]], "pooling": "mean"},
            "success": true, "errors": [], "messages": []
        })))
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!(
                "{}/client/v4/accounts/{ACCOUNT}/ai/run",
                server.uri()
            ))
            .dialect(Dialect::WorkersAiNative)
            .model("m"),
    );
    match client.embed(["t0"]).await {
        Err(Error::UnexpectedResponse { message, body, .. }) => {
            assert!(message.contains("shape"), "{message}");
            assert!(body.contains("pooling"), "the evidence is kept: {body}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn workers_ai_openai_endpoint_speaks_openai_with_bge_by_default() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/client/v4/accounts/{ACCOUNT}/ai/v1/embeddings"
        )))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(2)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!(
                "{}/client/v4/accounts/{ACCOUNT}/ai/v1",
                server.uri()
            ))
            .dialect(Dialect::WorkersAi)
            .model("@cf/meta/llama-3.1-8b-instruct"),
    );
    let embeddings = client.embed(texts(101)).await.expect("embeddings");
    assert_eq!(embeddings.len(), 101);
    assert_eq!(
        bodies(&server).await[1],
        json!({"model": BGE, "input": ["t100"]})
    );
}

#[tokio::test]
async fn ai_gateway_forwards_the_providers_protocol() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/{ACCOUNT}/gw/workers-ai/{BGE}")))
        .and(header("cf-aig-authorization", "Bearer gw-token"))
        .respond_with(WorkersAiEcho)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/{ACCOUNT}/gw/openai/embeddings")))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(1)
        .mount(&server)
        .await;
    let gateway = |provider: &str, dialect| {
        fast(
            Client::builder()
                .base_url(format!("{}/v1/{ACCOUNT}/gw/{provider}", server.uri()))
                .dialect(Dialect::AiGateway(dialect))
                .api_key("provider-key")
                .gateway_token("gw-token")
                .model("m"),
        )
    };
    let workers = gateway("workers-ai", GatewayProvider::WorkersAi)
        .embed(["t3"])
        .await
        .expect("workers-ai through the gateway");
    assert_eq!(workers.vectors, [vec![3.0, 1.0]]);
    let openai = gateway("openai", GatewayProvider::OpenAi)
        .embed(["t4"])
        .await
        .expect("openai through the gateway");
    assert_eq!(openai.vectors, [vec![4.0, 1.0]]);
    assert_eq!(openai.model, "text-embedding-3-small");
}

#[tokio::test]
async fn ai_gateway_errors_are_read_from_its_envelope() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"success": false, "error": [{"code": 2009, "message": "Unauthorized"}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1/{ACCOUNT}/gw/workers-ai", server.uri()))
            .dialect(Dialect::AiGateway(GatewayProvider::WorkersAi))
            .model("m"),
    );
    match client.embed(["t0"]).await {
        Err(Error::Api {
            status: 401,
            code,
            message,
        }) => {
            assert_eq!(
                (code.as_deref(), message.as_str()),
                (Some("2009"), "Unauthorized")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ollama_embeds_a_list_and_reports_prompt_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/embed"))
        .respond_with(ok(json!({
            "model": "nomic-embed-text",
            "embeddings": [[0.1, 0.2], [0.3, 0.4]],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": 8
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast(Client::ollama(server.uri()).model("llama3.2"));
    let embeddings = client
        .embed(["why is the sky blue?", "why is the grass green?"])
        .model("nomic-embed-text")
        .await
        .expect("embeddings");
    assert_eq!(
        bodies(&server).await[0],
        json!({"model": "nomic-embed-text", "input": ["why is the sky blue?", "why is the grass green?"]})
    );
    assert_eq!(embeddings.vectors, [vec![0.1, 0.2], vec![0.3, 0.4]]);
    assert_eq!(embeddings.usage.map(|u: Usage| u.prompt_tokens), Some(8));
}

#[tokio::test]
async fn ollama_errors_keep_its_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/embed"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": "model \"nomic-embed-text\" not found, try pulling it first"}),
        ))
        .mount(&server)
        .await;
    let client = fast(Client::ollama(format!("{}/api", server.uri())).model("nomic-embed-text"));
    match client.embed(["x"]).await {
        Err(Error::Api {
            status: 404,
            message,
            ..
        }) => {
            assert!(message.contains("try pulling it first"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// Every way an OpenAI-shaped reply can disagree with the request is an `UnexpectedResponse` naming
/// what is wrong, never a panic or a vector in the wrong place.
#[tokio::test]
async fn replies_that_do_not_fit_the_request_are_typed_errors() {
    let cases: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "too few vectors",
            ok(openai_list(&[(0, vec![1.0, 0.0])])),
            "asked for 2 embeddings, the reply has 1",
        ),
        (
            "mixed dimensions",
            ok(openai_list(&[(0, vec![1.0, 0.0]), (1, vec![1.0])])),
            "different dimensions",
        ),
        (
            "an index twice",
            ok(openai_list(&[(0, vec![1.0, 0.0]), (0, vec![0.0, 1.0])])),
            "two embeddings have the index 0",
        ),
        (
            "an index out of range",
            ok(openai_list(&[(0, vec![1.0, 0.0]), (7, vec![0.0, 1.0])])),
            "the index 7",
        ),
        (
            "empty vectors",
            ok(openai_list(&[(0, vec![]), (1, vec![])])),
            "an embedding is empty",
        ),
        (
            "a string for a vector",
            ok(
                json!({"data": [{"index": 0, "embedding": "AAAA"}, {"index": 1, "embedding": "AAAA"}]}),
            ),
            "data[0].embedding",
        ),
        (
            "no data",
            ok(json!({"object": "list"})),
            "missing field `data`",
        ),
        (
            "an HTML page",
            ResponseTemplate::new(200).set_body_string("<html><body>Bad gateway</body></html>"),
            "HTML page",
        ),
    ];
    for (case, reply, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(reply)
            .mount(&server)
            .await;
        match compatible(&server).embed(["t0", "t1"]).await {
            Err(Error::UnexpectedResponse { message, .. }) => {
                assert!(message.contains(expected), "{case}: {message}")
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_dimension_change_between_batches_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok(openai_list(&[(0, vec![1.0, 0.0])])),
            ok(openai_list(&[(0, vec![1.0, 0.0, 0.0])])),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    match compatible(&server).embed(["t0", "t1"]).batch_size(1).await {
        Err(Error::UnexpectedResponse { message, .. }) => {
            assert!(
                message.contains("different dimensions: 2, and 3"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_body_with_a_200_is_the_error_it_reports() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({"error": {"message": "input is too large to process", "type": "server_error", "code": 500}})))
        .mount(&server)
        .await;
    match compatible(&server).embed(["t0"]).await {
        Err(Error::Api { message, code, .. }) => {
            assert_eq!(message, "input is too large to process");
            assert_eq!(code.as_deref(), Some("500"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_like_a_chat() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "20")
                .set_body_json(json!({"error": {"message": "Rate limit reached"}})),
            ResponseTemplate::new(503).set_body_string("upstream unavailable"),
            ok(openai_list(&[(0, vec![1.0, 0.0])])),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let embeddings = compatible(&server).embed(["t0"]).await.expect("retried");
    assert_eq!(embeddings.vectors, [vec![1.0, 0.0]]);

    let exhausted = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "slow down"}})),
        )
        .expect(3)
        .mount(&exhausted)
        .await;
    match compatible(&exhausted).embed(["t0"]).await {
        Err(Error::RateLimited { message, .. }) => assert_eq!(message, "slow down"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_failed_batch_fails_the_whole_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok(openai_list(&[(0, vec![1.0, 0.0])])),
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "input must not be empty"}})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    match compatible(&server)
        .embed(["t0", "", "t2"])
        .batch_size(1)
        .await
    {
        Err(Error::Api {
            status: 400,
            message,
            ..
        }) => {
            assert_eq!(message, "input must not be empty")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error() {
    let server = MockServer::start().await;
    let big: Vec<f32> = vec![0.5; 4096];
    Mock::given(method("POST"))
        .respond_with(ok(openai_list(&[(0, big)])))
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("m")
            .max_response_bytes(1024),
    );
    match client.embed(["t0"]).await {
        Err(Error::UnexpectedResponse { message, .. }) => {
            assert!(message.contains("1024-byte cap"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn nearest_finds_the_closest_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(openai_list(&[
            (0, vec![1.0, 0.0, 0.0]),
            (1, vec![0.0, 1.0, 0.0]),
            (2, vec![0.7, 0.7, 0.0]),
        ])))
        .mount(&server)
        .await;
    let index = compatible(&server)
        .embed(["a", "b", "c"])
        .await
        .expect("embeddings");
    let best = index.nearest(&[0.0, 1.0, 0.1], 2);
    assert_eq!(best.iter().map(|n| n.index).collect::<Vec<_>>(), [1, 2]);
    assert!(best[0].score > best[1].score);
    assert_eq!(
        extract::cosine_similarity(&index.vectors[0], &index.vectors[1]),
        Some(0.0)
    );
}

#[tokio::test]
async fn embeddings_can_go_to_a_server_of_their_own() {
    let chat = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(0)
        .mount(&chat)
        .await;
    let embedder = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .and(header("authorization", "Bearer sk-shared"))
        .respond_with(OpenAiEcho { stagger: false })
        .expect(1)
        .mount(&embedder)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", chat.uri()))
            .embeddings_base_url(format!("{}/v1/", embedder.uri()))
            .api_key("sk-shared")
            .model("m"),
    );
    let embeddings = client.embed(["t7"]).await.expect("embeddings");
    assert_eq!(embeddings.vectors, [vec![7.0, 1.0]]);
}
