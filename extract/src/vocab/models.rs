//! What a provider says it serves: a model listing's entries, and the filters a listing applies.

use std::fmt;

/// A model a provider offers, as its listing describes it.
///
/// What is known depends on the provider: OpenAI-compatible servers give the id, the owner and the
/// creation time; Workers AI adds the task and properties such as `context_window`,
/// `function_calling` or `beta`; Ollama the family, size and quantization.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModelInfo {
    /// The name to pass to `.model(..)` (`gpt-4o-mini`, `@cf/baai/bge-base-en-v1.5`, `llama3.2:1b`).
    pub id: String,
    /// What the model does, where the provider says (Workers AI: `Text Generation`,
    /// `Text Embeddings`, `Text Classification`, ...).
    pub task: Option<String>,
    /// The provider's description.
    pub description: Option<String>,
    /// Who publishes it (`openai`, `system`, `llamacpp`).
    pub owned_by: Option<String>,
    /// When it was created, in seconds since the Unix epoch, where the provider says.
    pub created: Option<u64>,
    /// Everything else the provider reports about it, as `(name, value)` pairs in the provider's
    /// order: Workers AI's properties (`context_window` = `"131072"`, `function_calling` = `"true"`;
    /// a structured value such as `price` as its JSON text), llama.cpp's `n_ctx_train`, vLLM's
    /// `max_model_len`, Ollama's `parameter_size`.
    pub properties: Vec<(String, String)>,
}

impl ModelInfo {
    pub(crate) fn new(id: String) -> Self {
        ModelInfo {
            id,
            task: None,
            description: None,
            owned_by: None,
            created: None,
            properties: Vec::new(),
        }
    }

    /// The value of a property, if the provider reported it.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether a yes/no property is reported as yes (`function_calling`, `beta`, `reasoning`).
    pub fn flag(&self, name: &str) -> bool {
        self.property(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The context window in tokens, from the property a provider reports it in: Workers AI's
    /// `context_window`, vLLM's `max_model_len`, llama.cpp's `n_ctx_train`, or `context_length`.
    pub fn context_window(&self) -> Option<u64> {
        [
            "context_window",
            "max_model_len",
            "context_length",
            "n_ctx_train",
        ]
        .iter()
        .find_map(|name| self.property(name)?.trim().parse().ok())
    }

    /// Whether the model's task is `task`, compared without regard to case.
    pub fn has_task(&self, task: &str) -> bool {
        self.task
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(task.trim()))
    }
}

impl fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)?;
        if let Some(task) = &self.task {
            write!(f, " ({task})")?;
        }
        Ok(())
    }
}

/// What a listing asks for; the dialect sends what its provider filters itself, and
/// [`filter`](Self::filter) applies the rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelQuery {
    pub(crate) task: Option<String>,
    pub(crate) search: Option<String>,
    pub(crate) page: Option<u32>,
    pub(crate) per_page: Option<u32>,
}

impl ModelQuery {
    /// Applies the filters and the page on this side, for a provider that does neither.
    pub(crate) fn filter(&self, models: Vec<ModelInfo>) -> Vec<ModelInfo> {
        let search = self.search.as_deref().map(str::to_lowercase);
        let kept = models.into_iter().filter(|m| {
            self.task.as_deref().is_none_or(|task| m.has_task(task))
                && search.as_deref().is_none_or(|needle| {
                    m.id.to_lowercase().contains(needle)
                        || m.description
                            .as_deref()
                            .is_some_and(|d| d.to_lowercase().contains(needle))
                })
        });
        match (self.page, self.per_page) {
            (None, None) => kept.collect(),
            (page, per_page) => {
                let per_page = per_page.unwrap_or(u32::MAX) as usize;
                let skip = (page.unwrap_or(1).max(1) as usize - 1).saturating_mul(per_page);
                kept.skip(skip).take(per_page).collect()
            }
        }
    }
}
