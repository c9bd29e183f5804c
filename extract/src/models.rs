//! Model discovery: [`Client::models`] lists what the provider serves, with the task and capability
//! properties it reports, so a program can choose a model at run time. Each dialect knows its
//! listing's URL and shape; this module owns the request, the filters and the paging.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::client::Client;
use crate::error::Error;
use crate::vocab::{ModelInfo, ModelQuery};

/// The most pages one listing reads from a provider that pages, so a server that always says
/// "more" cannot keep it going.
const MAX_PAGES: u32 = 100;

/// A model listing being configured; `.await` it (or call [`send`](Self::send)) to run it.
///
/// Workers AI filters and pages on the server (its model search); other providers return the whole
/// list, and the same filters and page are applied to it here. Without [`page`](Self::page), every
/// page is read.
#[must_use = "a model listing does nothing until it is awaited"]
pub struct ModelsRequest<'c> {
    client: &'c Client,
    query: ModelQuery,
}

impl Client {
    /// Lists the models the provider offers: `GET {base}/models` on OpenAI-compatible servers,
    /// Workers AI's model search (`GET /accounts/{id}/ai/models/search`), Ollama's `GET /api/tags`.
    ///
    /// ```no_run
    /// # async fn run(client: extract::Client) -> Result<(), extract::Error> {
    /// let embedders = client.models().task("Text Embeddings").await?;
    /// let tools = client.models().task("Text Generation").await?
    ///     .into_iter()
    ///     .filter(|m| m.flag("function_calling") && m.context_window() >= Some(32_000));
    /// # Ok(()) }
    /// ```
    pub fn models(&self) -> ModelsRequest<'_> {
        ModelsRequest {
            client: self,
            query: ModelQuery::default(),
        }
    }
}

impl<'c> ModelsRequest<'c> {
    /// Only models for this task (Workers AI's task names: `Text Generation`, `Text Embeddings`,
    /// ...). Providers that report no task (OpenAI, llama.cpp, Ollama) match none.
    pub fn task(mut self, task: impl Into<String>) -> Self {
        self.query.task = Some(task.into());
        self
    }
    /// Only models whose name (or description) contains this text: Workers AI's own search, and a
    /// case-insensitive substring match elsewhere.
    pub fn search(mut self, text: impl Into<String>) -> Self {
        self.query.search = Some(text.into());
        self
    }
    /// Only this page (1-based) of the listing; every page otherwise.
    pub fn page(mut self, page: u32) -> Self {
        self.query.page = Some(page.max(1));
        self
    }
    /// Models per page.
    pub fn per_page(mut self, per_page: u32) -> Self {
        self.query.per_page = Some(per_page.max(1));
        self
    }

    /// Runs the listing.
    pub async fn send(self) -> Result<Vec<ModelInfo>, Error> {
        let dialect = self.client.dialect().imp();
        let mut models = Vec::new();
        let first = self.query.page.unwrap_or(1);
        for page in (first..).take(MAX_PAGES as usize) {
            let url = dialect.models_url(self.client.base_url(), &self.query, page)?;
            let reply = self.client.get(&url).await?;
            let listed = dialect
                .parse_models(reply.status, &reply.body, &self.query)
                .map_err(|e| self.client.scrub(e))?;
            let empty = listed.models.is_empty();
            models.extend(listed.models);
            if self.query.page.is_some() || !listed.more || empty {
                return Ok(models);
            }
        }
        tracing::warn!(
            pages = MAX_PAGES,
            "the model listing still had more pages; returning what was read"
        );
        Ok(models)
    }
}

impl<'c> IntoFuture for ModelsRequest<'c> {
    type Output = Result<Vec<ModelInfo>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, task: Option<&str>, description: Option<&str>) -> ModelInfo {
        let mut m = ModelInfo::new(id.to_owned());
        m.task = task.map(str::to_owned);
        m.description = description.map(str::to_owned);
        m
    }

    #[test]
    fn local_filters_and_pages() {
        let all = vec![
            model("llama-3", Some("Text Generation"), None),
            model(
                "bge-base",
                Some("Text Embeddings"),
                Some("BAAI general embedding"),
            ),
            model("gpt-4o", None, None),
            model(
                "mistral",
                Some("text generation"),
                Some("A LLaMA-like model"),
            ),
        ];
        let ids = |q: ModelQuery| -> Vec<String> {
            q.filter(all.clone()).into_iter().map(|m| m.id).collect()
        };
        assert_eq!(ids(ModelQuery::default()).len(), 4);
        let task = ModelQuery {
            task: Some("Text Generation".into()),
            ..ModelQuery::default()
        };
        assert_eq!(ids(task), ["llama-3", "mistral"]);
        let search = ModelQuery {
            search: Some("LLAMA".into()),
            ..ModelQuery::default()
        };
        assert_eq!(ids(search), ["llama-3", "mistral"]);
        let page = ModelQuery {
            page: Some(2),
            per_page: Some(3),
            ..ModelQuery::default()
        };
        assert_eq!(ids(page), ["mistral"]);
        let far = ModelQuery {
            page: Some(u32::MAX),
            per_page: Some(u32::MAX),
            ..ModelQuery::default()
        };
        assert!(ids(far).is_empty());
    }

    #[test]
    fn properties_and_context_window() {
        let mut m = model("x", None, None);
        m.properties = vec![
            ("function_calling".into(), "true".into()),
            ("beta".into(), "false".into()),
            ("context_window".into(), " 24000".into()),
        ];
        assert!(m.flag("function_calling"));
        assert!(!m.flag("beta"));
        assert!(!m.flag("absent"));
        assert_eq!(m.context_window(), Some(24_000));
        m.properties = vec![("n_ctx_train".into(), "8192".into())];
        assert_eq!(m.context_window(), Some(8192));
        m.properties = vec![("context_window".into(), "large".into())];
        assert_eq!(m.context_window(), None);
    }
}
