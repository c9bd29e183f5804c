#![allow(dead_code)] // the types exist for the schemas the model fills; not every field is read
//! The live tier for the seed's use cases: moderation, embeddings, retrieval with checked
//! citations, model discovery and input limits, against llama.cpp's llama-server and
//! SmolLM2-135M-Instruct, which also embeds (mean-pooled) from a second server with the same model.
//! A 135M model is held to what it does reliably, as measured: well-typed values within the bounds
//! the decoder enforces; embeddings of one dimension, in order, with a paraphrase
//! closer than an unrelated sentence for clear cases; citations that are either among the retrieved
//! documents or rejected with the reason.

use extract::{cosine_similarity, Error, Extract, InputPolicy};
use extract_workspace_tests::{live_client, live_embedding_client};
use schemars::JsonSchema;
use serde::Deserialize;

macro_rules! live {
    () => {
        live!(live_client)
    };
    ($client:ident) => {
        match $client() {
            Some(client) => client,
            None => return,
        }
    };
}

/// What kind of message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
enum Category {
    Safe,
    Spam,
    Harassment,
    Hate,
    Violence,
    Sexual,
}

/// A moderation decision about one message.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(
    instructions = "You moderate messages posted on a forum. Classify the user's message into the \
                    one category that fits best, say how confident you are in percent, and give a \
                    one-sentence reason."
)]
struct Moderation {
    category: Category,
    /// How sure the decision is, in percent: 0 is a guess, 100 is certain.
    #[schemars(range(max = 100))]
    confidence: u8,
    /// One short sentence saying why.
    reason: String,
}

#[tokio::test]
async fn moderation_is_typed_and_in_range() {
    let client = live!();
    for message in [
        "Thanks for the detailed answer, it fixed my build!",
        "BUY CHEAP WATCHES NOW!!! Visit cheap-watches.example for 90% off!!!",
        "You are a worthless idiot and everyone here hates you.",
    ] {
        let extraction = client
            .extract::<Moderation>(message)
            .temperature(0.0)
            .await
            .unwrap_or_else(|e| panic!("{message:?}: {e}"));
        let decision = extraction.value;
        assert!(decision.confidence <= 100, "{decision:?}");
        // The category is one of the enum's, or it would not have deserialized; the raw reply names it.
        let name = format!("\"{:?}\"", decision.category).to_lowercase();
        assert!(extraction.raw.contains(&name), "{}", extraction.raw);
    }
}

/// Pairs of (text, paraphrase, unrelated) where, measured on this model, the paraphrase is closer by
/// a wide margin (0.19 to 0.37 in cosine similarity); closer calls are not asserted.
const TRIPLES: &[(&str, &str, &str)] = &[
    (
        "The cat sat on the mat.",
        "A kitten was sitting on the rug.",
        "Interest rates rose by half a percent.",
    ),
    (
        "How do I reset my password?",
        "I forgot my password and cannot log in.",
        "The train to Paris leaves at noon.",
    ),
    (
        "Paris is the capital of France.",
        "France's capital city is Paris.",
        "Photosynthesis turns light into sugar.",
    ),
    (
        "The stock market fell sharply today.",
        "Shares dropped steeply on Wall Street.",
        "My dog loves to chase tennis balls.",
    ),
];

#[tokio::test]
async fn embeddings_have_one_dimension_and_paraphrases_are_closer() {
    let client = live!(live_embedding_client);
    let texts: Vec<&str> = TRIPLES.iter().flat_map(|(a, b, c)| [*a, *b, *c]).collect();
    let embeddings = client.embed(texts.clone()).await.expect("embeddings");
    assert_eq!(embeddings.len(), texts.len());
    let d = embeddings.dimensions();
    assert!(d > 0 && embeddings.vectors.iter().all(|v| v.len() == d));
    assert!(embeddings.usage.is_some_and(|u| u.prompt_tokens > 0));
    for (i, (a, b, c)) in TRIPLES.iter().enumerate() {
        let v = |k: usize| &embeddings.vectors[3 * i + k];
        let close = cosine_similarity(v(0), v(1)).expect("defined");
        let far = cosine_similarity(v(0), v(2)).expect("defined");
        assert!(
            close > far,
            "{a:?} ~ {b:?} = {close:.3}, but ~ {c:?} = {far:.3}"
        );
    }
}

#[tokio::test]
async fn batched_embeddings_keep_the_order() {
    let client = live!(live_embedding_client);
    // Of different lengths: a server that pools sequences of a shared batch wrongly (as llama.cpp
    // does with a chat model's parallel slots) gets the longer ones wrong.
    let texts: Vec<String> = (0..10)
        .map(|i| {
            format!(
                "Sentence {i} is about topic {}{}.",
                i * 7 % 5,
                " and more".repeat(i % 3)
            )
        })
        .collect();
    let batched = client
        .embed(&texts)
        .batch_size(3)
        .concurrency(2)
        .await
        .expect("embeddings");
    // Each text alone: the same vector (up to the float noise of a different batch), in its place.
    for i in [0, 1, 4, 5, 9] {
        let alone = client
            .embed([texts[i].as_str()])
            .await
            .expect("embedding")
            .into_vectors()
            .remove(0);
        let same = cosine_similarity(&alone, &batched.vectors[i]).expect("defined");
        assert!(same > 0.999, "text {i}: {same}");
    }
}

/// The documents that answer the question. No free text: a 135M model can run on in a string,
/// which no decoder bounds (`maxLength` is not enforceable), and the citations are what is tested.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Cited {
    /// The numbers of the documents that answer the question.
    #[schemars(length(min = 1, max = 2))]
    sources: Vec<u32>,
}

const DOCUMENTS: &[(u32, &str)] = &[
    (1, "Cloudflare Workers run JavaScript and WebAssembly in data centers close to the user."),
    (2, "Vectorize is a vector database: it stores embeddings and finds the nearest ones to a query."),
    (3, "AI Gateway sits in front of AI providers and adds caching, rate limiting and logging."),
    (4, "The bakery on Main Street sells sourdough bread and croissants every morning from seven."),
    (5, "D1 is a serverless SQL database built on SQLite."),
];

/// Retrieval by cosine similarity, then citations checked against what was retrieved: either every source is one of them, or the extraction fails saying which was not.
/// (The 135M model often cites a document it was not given; the check is what is under test.)
#[tokio::test]
async fn rag_citations_are_among_the_retrieved_documents_or_rejected() {
    let client = live!(live_embedding_client);
    let index = client
        .embed(DOCUMENTS.iter().map(|(_, text)| *text))
        .await
        .expect("index");
    let question = "Which product adds caching in front of AI providers?";
    let query = client
        .embed([question])
        .await
        .expect("query")
        .into_vectors()
        .remove(0);
    let hits = index.nearest(&query, 2);
    assert_eq!(hits.len(), 2);
    assert!(hits[0].score >= hits[1].score);
    let retrieved: Vec<u32> = hits.iter().map(|h| DOCUMENTS[h.index].0).collect();
    let context: String = hits
        .iter()
        .map(|h| format!("[{}] {}\n", DOCUMENTS[h.index].0, DOCUMENTS[h.index].1))
        .collect();
    let result = client
        .extract::<Cited>(format!("Documents:\n{context}\nQuestion: {question}"))
        .instructions("List the numbers of the documents that answer the question in `sources`.")
        .validate_with(
            |c: &Cited| match c.sources.iter().find(|s| !retrieved.contains(s)) {
                Some(s) => Err(format!(
                    "document {s} was not given; cite only {retrieved:?}"
                )),
                None => Ok(()),
            },
        )
        .temperature(0.0)
        .max_tokens(100)
        .await;
    match result {
        Ok(extraction) => {
            let cited = &extraction.value.sources;
            eprintln!("cited {cited:?} of {retrieved:?}");
            assert!(
                cited.iter().all(|s| retrieved.contains(s)),
                "{cited:?} vs {retrieved:?}"
            );
        }
        Err(Error::Invalid { errors, .. }) => {
            let why = errors
                .iter()
                .find(|e| e.message.contains("was not given"))
                .unwrap_or_else(|| panic!("an invalid answer for another reason: {errors:?}"));
            assert!(why.message.contains(&format!("{retrieved:?}")), "{why}");
            eprintln!("rejected: {why}");
        }
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn the_local_server_lists_its_model() {
    let client = live!();
    let models = client.models().await.expect("a listing");
    assert!(!models.is_empty());
    let model = &models[0];
    assert!(model.id.contains("SmolLM2"), "{model:?}");
    assert_eq!(model.owned_by.as_deref(), Some("llamacpp"));
    // llama.cpp reports the context the model was trained with.
    assert!(
        model.context_window().is_some_and(|n| n >= 2048),
        "{model:?}"
    );
}

/// A calendar event mentioned in the text, its list bounded for a 135M model.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    name: String,
    date: String,
    #[schemars(length(max = 6))]
    participants: Vec<String>,
}

#[tokio::test]
async fn a_long_input_is_truncated_to_fit_or_rejected() {
    let client = live!();
    let filler = "The weather was mild and nothing else happened that day. ".repeat(400);
    let text = format!("Alice and Bob are going to a science fair on Friday. {filler}");
    let rejected = client
        .extract::<CalendarEvent>(text.as_str())
        .max_input_tokens(300)
        .await;
    assert!(
        matches!(rejected, Err(Error::InputTooLong { limit: 300, tokens }) if tokens > 300),
        "{rejected:?}"
    );
    let extraction = client
        .extract::<CalendarEvent>(text.as_str())
        .max_input_tokens(300)
        .on_long_input(InputPolicy::TruncateEnd)
        .temperature(0.0)
        .await
        .expect("the beginning fits and is extracted");
    // The prompt was cut to the limit: far fewer tokens than the whole text would take.
    assert!(
        extraction.usage.prompt_tokens < 1_000,
        "{} prompt tokens",
        extraction.usage.prompt_tokens
    );
}

/// A client of a started local model starts the embeddings server on its first `embed`, and the
/// vectors are the same as those of the server the other tests share.
#[tokio::test]
async fn a_local_client_starts_its_embeddings_server_on_first_use() {
    let Some(shared) = live_embedding_client() else {
        return;
    };
    let client = extract::local::LocalModel::start()
        .await
        .and_then(extract::local::LocalModel::into_client)
        .expect("a local client");
    let text = "The cat sat on the mat.";
    let first = client
        .embed([text])
        .await
        .expect("embeddings")
        .into_vectors();
    let again = client
        .embed([text])
        .await
        .expect("embeddings")
        .into_vectors();
    let reference = shared
        .embed([text])
        .await
        .expect("embeddings")
        .into_vectors();
    assert_eq!(first, again);
    let same = cosine_similarity(&first[0], &reference[0]).expect("defined");
    assert!(same > 0.999, "{same}");
}
