//! Model discovery against scripted servers (wiremock): OpenAI-compatible `/models` (OpenAI,
//! llama.cpp, vLLM), Workers AI's model search with its query parameters and pages, Ollama's
//! `/api/tags`, and the failures of each.

use std::time::Duration;

use extract::dialect::GatewayProvider;
use extract::{Client, ClientBuilder, Dialect, Error};
use extract_workspace_tests::ok;
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "acc-123";

fn fast(builder: ClientBuilder) -> Client {
    builder
        .initial_backoff(Duration::from_millis(1))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid configuration")
}

fn workers_ai(server: &MockServer, dialect: Dialect, tail: &str) -> Client {
    fast(
        Client::builder()
            .base_url(format!(
                "{}/client/v4/accounts/{ACCOUNT}/ai{tail}",
                server.uri()
            ))
            .dialect(dialect)
            .api_key("cf-token")
            .model("@cf/meta/llama-3.1-8b-instruct"),
    )
}

fn search_path() -> String {
    format!("/client/v4/accounts/{ACCOUNT}/ai/models/search")
}

/// Two Workers AI models as the model search describes them.
fn search_results() -> serde_json::Value {
    json!([
        {
            "id": "429b9e8b-d99e-44de-91ad-706cf8183658",
            "source": 1,
            "name": "@cf/baai/bge-base-en-v1.5",
            "description": "BAAI general embedding (Base) model that transforms any given text into a 768-dimensional vector",
            "task": {"id": "0137cdcf-162a-4108-94f2-1ca59e8c65ee", "name": "Text Embeddings", "description": "Feature extraction"},
            "created_at": "2023-09-25 19:21:11.898",
            "tags": [],
            "properties": [
                {"property_id": "max_input_tokens", "value": "512"},
                {"property_id": "output_dimensions", "value": "768"},
                {"property_id": "price", "value": [{"unit": "per M input tokens", "price": 0.067, "currency": "USD"}]}
            ]
        },
        {
            "id": "f8703a00-ed54-4f98-bdc3-cd9a813286f3",
            "source": 1,
            "name": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
            "description": "Llama 3.3 70B quantized to fp8 precision, optimized to be faster.",
            "task": {"id": "c329a1f9-323d-4e91-b2aa-582dd4188d34", "name": "Text Generation", "description": "..."},
            "created_at": "2024-12-06 17:09:18.338",
            "tags": [],
            "properties": [
                {"property_id": "context_window", "value": "24000"},
                {"property_id": "function_calling", "value": "true"},
                {"property_id": "terms", "value": null}
            ]
        }
    ])
}

#[tokio::test]
async fn openai_compatible_servers_list_ids_owners_and_metadata() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(ok(json!({
            "object": "list",
            "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1_721_172_741, "owned_by": "system"},
                {"id": "SmolLM2-135M-Instruct.Q4_1.gguf", "object": "model", "created": 1_795_539_272,
                 "owned_by": "llamacpp", "aliases": ["x"],
                 "meta": {"vocab_type": 2, "n_vocab": 49152, "n_ctx_train": 8192, "n_embd": 576}},
                {"id": "Qwen/Qwen2.5-7B-Instruct", "object": "model", "owned_by": "vllm", "root": "Qwen/Qwen2.5-7B-Instruct",
                 "max_model_len": 32768, "permission": [{"id": "modelperm-1"}]}
            ]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .api_key("sk-test")
            .model("m"),
    );
    let models = client.models().await.expect("a listing");
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "gpt-4o-mini",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "Qwen/Qwen2.5-7B-Instruct"
        ]
    );
    assert_eq!(models[0].owned_by.as_deref(), Some("system"));
    assert_eq!(models[0].created, Some(1_721_172_741));
    assert_eq!(models[0].task, None);
    assert_eq!(models[1].property("n_embd"), Some("576"));
    assert_eq!(models[1].context_window(), Some(8192));
    assert_eq!(models[2].context_window(), Some(32768));
    assert_eq!(
        models[2].property("permission"),
        None,
        "structured fields are left out"
    );
}

#[tokio::test]
async fn filters_apply_here_where_the_server_has_none() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ok(json!({"data": [
            {"id": "text-embedding-3-small"}, {"id": "gpt-4o"}, {"id": "text-embedding-3-large"}
        ]})))
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("m"),
    );
    let embedders = client
        .models()
        .search("EMBEDDING")
        .await
        .expect("a listing");
    assert_eq!(embedders.len(), 2);
    let second = client
        .models()
        .search("embedding")
        .per_page(1)
        .page(2)
        .await
        .expect("a listing");
    assert_eq!(second[0].id, "text-embedding-3-large");
    // OpenAI reports no tasks, so a task filter matches nothing rather than everything.
    let by_task = client
        .models()
        .task("Text Embeddings")
        .await
        .expect("a listing");
    assert!(by_task.is_empty());
}

#[tokio::test]
async fn workers_ai_searches_with_its_query_parameters() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(search_path()))
        .and(query_param("task", "Text Embeddings"))
        .and(query_param("search", "bge"))
        .and(query_param("page", "1"))
        .and(query_param("per_page", "50"))
        .and(header("authorization", "Bearer cf-token"))
        .respond_with(ok(json!({
            "success": true,
            "result": search_results(),
            "errors": [],
            "messages": [],
            "result_info": {"count": 2, "page": 1, "per_page": 50, "total_count": 2}
        })))
        .expect(1)
        .mount(&server)
        .await;
    // From the OpenAI-compatible endpoint's base URL: the search is under the account's `/ai`.
    let client = workers_ai(&server, Dialect::WorkersAi, "/v1");
    let models = client
        .models()
        .task("Text Embeddings")
        .search("bge")
        .await
        .expect("a listing");
    assert_eq!(
        models.len(),
        2,
        "the server's filter is trusted, not redone"
    );
    let bge = &models[0];
    assert_eq!(bge.id, "@cf/baai/bge-base-en-v1.5");
    assert!(bge.has_task("text embeddings"));
    assert_eq!(bge.property("output_dimensions"), Some("768"));
    assert_eq!(
        bge.property("price"),
        Some(r#"[{"unit":"per M input tokens","price":0.067,"currency":"USD"}]"#)
    );
    assert_eq!(bge.property("created_at"), Some("2023-09-25 19:21:11.898"));
    let llama = &models[1];
    assert_eq!(llama.task.as_deref(), Some("Text Generation"));
    assert!(llama.flag("function_calling"));
    assert_eq!(llama.context_window(), Some(24_000));
    assert_eq!(llama.property("terms"), None);
}

#[tokio::test]
async fn workers_ai_reads_every_page_unless_one_is_asked_for() {
    let server = MockServer::start().await;
    let results = search_results();
    for (page, model) in [("1", &results[0]), ("2", &results[1])] {
        Mock::given(method("GET"))
            .and(path(search_path()))
            .and(query_param("page", page))
            .and(query_param("per_page", "1"))
            .respond_with(ok(json!({
                "success": true,
                "result": [model],
                "result_info": {"count": 1, "page": page.parse::<u32>().unwrap_or(0), "per_page": 1, "total_count": 2}
            })))
            .mount(&server)
            .await;
    }
    // The native endpoint's base URL works the same.
    let client = workers_ai(&server, Dialect::WorkersAiNative, "/run");
    let all = client.models().per_page(1).await.expect("every page");
    assert_eq!(all.len(), 2);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
    let second = client.models().per_page(1).page(2).await.expect("one page");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn workers_ai_without_totals_pages_until_a_short_page() {
    let server = MockServer::start().await;
    let results = search_results();
    Mock::given(method("GET"))
        .and(query_param("page", "1"))
        .respond_with(ok(json!({"success": true, "result": [results[0]]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("page", "2"))
        .respond_with(ok(json!({"success": true, "result": []})))
        .mount(&server)
        .await;
    let client = workers_ai(&server, Dialect::WorkersAiNative, "");
    let all = client.models().per_page(1).await.expect("every page");
    assert_eq!(all.len(), 1);
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn workers_ai_errors_come_in_the_cloudflare_envelope() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(search_path()))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "success": false,
            "errors": [{"code": 10000, "message": "Authentication error"}],
            "messages": [],
            "result": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = workers_ai(&server, Dialect::WorkersAi, "/v1");
    match client.models().await {
        Err(Error::Api {
            status: 403,
            code,
            message,
        }) => {
            assert_eq!(code.as_deref(), Some("10000"));
            assert_eq!(message, "Authentication error");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_model_without_a_name_is_an_unexpected_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(
            json!({"success": true, "result": [{"description": "nameless"}]}),
        ))
        .mount(&server)
        .await;
    let client = workers_ai(&server, Dialect::WorkersAi, "/v1");
    match client.models().await {
        Err(Error::UnexpectedResponse { message, .. }) => {
            assert!(message.contains("no `name`"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ollama_lists_its_tags_with_their_details() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/tags"))
        .respond_with(ok(json!({"models": [
            {
                "name": "llama3.2:1b", "model": "llama3.2:1b",
                "modified_at": "2024-10-01T10:00:00.000000-07:00", "size": 1_321_098_329_u64,
                "digest": "baf6a787fdffd633537aa2eb51cfd54cb93ff08e28040095462bb63daf552878",
                "details": {"parent_model": "", "format": "gguf", "family": "llama",
                            "families": ["llama"], "parameter_size": "1.2B", "quantization_level": "Q8_0"}
            },
            {"name": "nomic-embed-text:latest", "details": {"family": "nomic-bert"}}
        ]})))
        .expect(1)
        .mount(&server)
        .await;
    let client = fast(Client::ollama(server.uri()).model("llama3.2:1b"));
    let models = client.models().await.expect("a listing");
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].id, "llama3.2:1b");
    assert_eq!(models[0].property("parameter_size"), Some("1.2B"));
    assert_eq!(models[0].property("quantization_level"), Some("Q8_0"));
    assert_eq!(models[0].property("size"), Some("1321098329"));
    assert_eq!(
        models[0].property("parent_model"),
        None,
        "empty values are left out"
    );
    assert_eq!(models[1].property("family"), Some("nomic-bert"));
}

#[tokio::test]
async fn the_gateways_workers_ai_route_has_no_listing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({"data": []})))
        .expect(0)
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1/{ACCOUNT}/gw/workers-ai", server.uri()))
            .dialect(Dialect::AiGateway(GatewayProvider::WorkersAi))
            .model("m"),
    );
    match client.models().await {
        Err(Error::Config { message }) => {
            assert!(message.contains("workers_ai_native"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_listing_that_is_not_a_listing_is_an_unexpected_response() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok(json!({"data": [{"object": "model"}]})))
        .mount(&server)
        .await;
    let client = fast(
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("m"),
    );
    match client.models().await {
        Err(Error::UnexpectedResponse { message, .. }) => {
            assert!(message.contains("no `id`"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}
