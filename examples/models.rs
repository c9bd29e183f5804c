//! Model discovery: list the models the provider offers, with what it says about each, to choose
//! one at run time.
//!
//! On Workers AI (`OPENAI_BASE_URL=https://api.cloudflare.com/client/v4/accounts/{id}/ai/v1`) the
//! listing is the account's model search, with tasks and properties (`context_window`,
//! `function_calling`, ...), and the argument filters by task; elsewhere (OpenAI, llama.cpp, vLLM,
//! Ollama) it is the server's model list, and the argument is a search in the names.
//!
//! ```sh
//! cargo run --example models
//! cargo run --example models -- "Text Embeddings"
//! ```

use extract::Client;

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let filter = std::env::args().nth(1);
    let client = Client::from_env_or_local().await?;
    let mut request = client.models();
    if let Some(filter) = &filter {
        request = match client.dialect() {
            extract::Dialect::WorkersAi | extract::Dialect::WorkersAiNative => request.task(filter),
            _ => request.search(filter),
        };
    }
    let models = request.await?;
    println!("{} model(s) at {}", models.len(), client.base_url());
    for model in &models {
        let mut facts = Vec::new();
        if let Some(window) = model.context_window() {
            facts.push(format!("{window}-token context"));
        }
        if model.flag("function_calling") {
            facts.push("function calling".to_owned());
        }
        if let Some(owner) = &model.owned_by {
            facts.push(format!("by {owner}"));
        }
        println!("  {model}  {}", facts.join(", "));
    }
    // Choosing at run time: the largest context window on offer, where the provider says.
    if let Some(best) = models
        .iter()
        .max_by_key(|m| m.context_window().unwrap_or(0))
    {
        println!("largest context: {}", best.id);
    }
    Ok(())
}
