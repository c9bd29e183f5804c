//! Retrieval-augmented generation: embed a handful of documents, retrieve the closest ones to a
//! question by cosine similarity, and extract an answer that cites them.
//!
//! Two rules keep the citations honest. That an answer cites at least one document, each once, is a
//! rule of the type: `#[extract(validate = ...)]`. That it cites only documents that were retrieved
//! for *this* question is a rule of the call, since the retrieved set is only known at run time (a
//! schema `enum` of ids cannot change per request): `validate_with` adds it to the judge. A citation
//! of anything else is sent back to the model with the ids it may use; if it still gets it wrong
//! when the reasks run out, the error says why.
//!
//! ```sh
//! cargo run --example rag
//! cargo run --example rag -- "Which product caches requests to AI providers?"
//! ```

use extract::{Client, Error, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// An answer to the question from the numbered documents.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(validate = cites_each_once)]
struct Answer {
    /// The answer, in one or two sentences, from the documents only.
    answer: String,
    /// The numbers of the documents the answer comes from.
    #[schemars(length(max = 3))]
    sources: Vec<u32>,
}

fn cites_each_once(answer: &Answer) -> Result<(), String> {
    if answer.sources.is_empty() {
        return Err("cite at least one document in `sources`".into());
    }
    let mut seen = answer.sources.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() < answer.sources.len() {
        return Err("cite each document once".into());
    }
    Ok(())
}

/// The knowledge base: numbered documents.
const DOCUMENTS: &[(u32, &str)] = &[
    (1, "Cloudflare Workers run JavaScript and WebAssembly in data centers close to the user."),
    (2, "Workers AI runs machine learning models, such as text generation and embeddings, on GPUs."),
    (3, "Vectorize is a vector database: it stores embeddings and finds the nearest ones to a query."),
    (4, "AI Gateway sits in front of AI providers and adds caching, rate limiting and logging."),
    (5, "Rust guarantees memory safety without a garbage collector, through ownership and borrowing."),
    (6, "The bakery on Main Street sells sourdough bread and croissants every morning from seven."),
    (7, "D1 is a serverless SQL database built on SQLite."),
];

/// How many documents go to the model with the question.
const TOP_K: usize = 3;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let question = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Which product adds caching in front of AI providers?".to_owned());
    let client = Client::from_env_or_local().await?;

    // Index: one vector per document. A real application stores these (Vectorize, pgvector, ...).
    let index = client
        .embed(DOCUMENTS.iter().map(|(_, text)| *text))
        .await?;
    let query = client
        .embed([question.as_str()])
        .await?
        .into_vectors()
        .remove(0);

    let retrieved: Vec<u32> = index
        .nearest(&query, TOP_K)
        .iter()
        .map(|hit| DOCUMENTS[hit.index].0)
        .collect();
    let context: String = retrieved
        .iter()
        .filter_map(|id| DOCUMENTS.iter().find(|(n, _)| n == id))
        .map(|(id, text)| format!("[{id}] {text}\n"))
        .collect();
    println!("retrieved {retrieved:?} for {question:?}");

    let result = client
        .extract::<Answer>(format!("Documents:\n{context}\nQuestion: {question}"))
        .instructions(
            "Answer the question from the numbered documents only, and list the numbers of the \
             documents you used in `sources`.",
        )
        .validate_with(|answer: &Answer| {
            match answer.sources.iter().find(|id| !retrieved.contains(id)) {
                Some(id) => Err(format!(
                    "document {id} was not given; cite only documents {retrieved:?}"
                )),
                None => Ok(()),
            }
        })
        .temperature(0.0)
        // A small model can run on in the free-text answer; this bounds the wait.
        .max_tokens(300)
        .await;
    match result {
        Ok(extraction) => {
            let answer = extraction.value;
            println!("answer:  {}", answer.answer);
            println!("sources: {:?}", answer.sources);
            for id in &answer.sources {
                if let Some((_, text)) = DOCUMENTS.iter().find(|(n, _)| n == id) {
                    println!("  [{id}] {text}");
                }
            }
            eprintln!("{} attempt(s)", extraction.attempts);
            Ok(())
        }
        // The model kept citing something it was not given: the typed error keeps what and why.
        Err(Error::Invalid { errors, raw, .. }) => {
            for error in &errors {
                eprintln!("no honest answer: {error}");
            }
            eprintln!("last reply: {raw}");
            std::process::exit(1);
        }
        Err(other) => Err(other),
    }
}
