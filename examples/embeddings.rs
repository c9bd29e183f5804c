//! Embeddings: turn texts into vectors and compare them by cosine similarity.
//!
//! With `OPENAI_API_KEY` (or `OPENAI_BASE_URL` and `EXTRACT_MODEL`; `EXTRACT_EMBEDDING_MODEL` for
//! the embedding model) it asks that provider: `text-embedding-3-small` on OpenAI,
//! `@cf/baai/bge-base-en-v1.5` on Workers AI. Otherwise it asks the local model, whose server
//! embeds with the same SmolLM2-135M it chats with (mean-pooled): a small chat model is a weak
//! embedder, but a paraphrase still comes out closer than an unrelated sentence.
//!
//! ```sh
//! cargo run --example embeddings
//! cargo run --example embeddings -- "The cat sat on the mat." "A kitten rests on a rug." "Rates rose."
//! ```

use extract::{cosine_similarity, Client};

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let mut texts: Vec<String> = std::env::args().skip(1).collect();
    if texts.len() < 2 {
        texts = [
            "The cat sat on the mat.",
            "A kitten was sitting on the rug.",
            "Interest rates rose by half a percent.",
            "The central bank raised borrowing costs.",
        ]
        .map(String::from)
        .to_vec();
    }
    let client = Client::from_env_or_local().await?;
    let embeddings = client.embed(&texts).await?;
    println!(
        "{} vectors of {} dimensions from {}",
        embeddings.len(),
        embeddings.dimensions(),
        embeddings.model
    );
    if let Some(usage) = embeddings.usage {
        println!("{} tokens", usage.prompt_tokens);
    }
    println!();
    for (i, a) in texts.iter().enumerate() {
        for (j, b) in texts.iter().enumerate().skip(i + 1) {
            let similarity = cosine_similarity(&embeddings.vectors[i], &embeddings.vectors[j])
                .map_or_else(|| "undefined".to_owned(), |s| format!("{s:.3}"));
            println!("{similarity}  {a:?} ~ {b:?}");
        }
    }
    Ok(())
}
