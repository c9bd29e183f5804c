//! Embeddings: [`Client::embed`] turns texts into vectors with the provider's embedding model, in
//! batches no larger than the provider takes, keeping the input order; [`cosine_similarity`] and
//! [`Embeddings::nearest`] are enough for retrieval over a few thousand texts without a vector store.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use futures_util::{StreamExt, TryStreamExt};
use tracing::Instrument;

use crate::client::Client;
use crate::dialect::{bad_shape, DialectImpl, EmbeddingBatch};
use crate::error::Error;
use crate::vocab::Usage;

/// The vectors of a batch of texts, in the order of the texts.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Embeddings {
    /// One vector per text, all of the same dimension.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens billed, summed over the requests, when the provider reported any.
    pub usage: Option<Usage>,
    /// The model that made them, as the provider named it (or as requested, when it did not say).
    pub model: String,
}

/// One result of [`Embeddings::nearest`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Neighbor {
    /// The position of the text among those embedded.
    pub index: usize,
    /// Its cosine similarity to the query, from -1 to 1.
    pub score: f32,
}

impl Embeddings {
    /// How many vectors there are (as many as texts).
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether there are none (no texts were given).
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// The dimension of the vectors; 0 when there are none.
    pub fn dimensions(&self) -> usize {
        self.vectors.first().map_or(0, Vec::len)
    }

    /// The `k` vectors most similar to `query` by cosine similarity, best first (ties in input
    /// order). Vectors the similarity is not defined for (another dimension, all zeros) are left
    /// out.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<Neighbor> {
        let mut scored: Vec<Neighbor> = self
            .vectors
            .iter()
            .enumerate()
            .filter_map(|(index, v)| {
                cosine_similarity(query, v).map(|score| Neighbor { index, score })
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
        scored.truncate(k);
        scored
    }

    /// The vectors, without the metadata.
    pub fn into_vectors(self) -> Vec<Vec<f32>> {
        self.vectors
    }
}

/// The cosine of the angle between `a` and `b`, from -1 (opposite) to 1 (same direction); `None`
/// when it is not defined: vectors of different dimensions, empty ones, or one of length zero.
///
/// ```
/// assert_eq!(extract::cosine_similarity(&[1.0, 0.0], &[2.0, 0.0]), Some(1.0));
/// assert_eq!(extract::cosine_similarity(&[1.0, 0.0], &[0.0, 3.0]), Some(0.0));
/// assert_eq!(extract::cosine_similarity(&[1.0], &[1.0, 2.0]), None);
/// ```
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Option<f32> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    // In f64: sums over a thousand dimensions lose digits in f32.
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norms = aa.sqrt() * bb.sqrt();
    if norms == 0.0 || !norms.is_finite() || !dot.is_finite() {
        return None;
    }
    Some((dot / norms).clamp(-1.0, 1.0) as f32)
}

/// An embeddings request being configured; `.await` it (or call [`send`](Self::send)) to run it.
#[must_use = "an embeddings request does nothing until it is awaited"]
pub struct EmbedRequest<'c> {
    client: &'c Client,
    texts: Vec<String>,
    model: Option<String>,
    batch_size: Option<usize>,
    concurrency: usize,
}

impl Client {
    /// Embeds `texts` with the client's [`embedding_model`](Client::embedding_model) (or the
    /// request's [`model`](EmbedRequest::model)): one vector per text, in order.
    ///
    /// More texts than the provider takes in one request (Workers AI: 100, OpenAI: 2048) are sent
    /// in several, one after the other unless [`concurrency`](EmbedRequest::concurrency) says
    /// otherwise; no texts means no request. Retries, timeouts and errors are those of a chat
    /// request; a reply with the wrong number of vectors, or vectors of different dimensions, is
    /// [`Error::UnexpectedResponse`].
    ///
    /// ```no_run
    /// # async fn run(client: extract::Client) -> Result<(), extract::Error> {
    /// let docs = ["Workers run at the edge.", "Rust has no garbage collector."];
    /// let index = client.embed(docs).await?;
    /// let query = client.embed(["Where does my code run?"]).await?.into_vectors().remove(0);
    /// let best = &index.nearest(&query, 1)[0];
    /// println!("{} ({:.2})", docs[best.index], best.score);
    /// # Ok(()) }
    /// ```
    pub fn embed<I>(&self, texts: I) -> EmbedRequest<'_>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        EmbedRequest {
            client: self,
            texts: texts.into_iter().map(Into::into).collect(),
            model: None,
            batch_size: None,
            concurrency: 1,
        }
    }
}

impl<'c> EmbedRequest<'c> {
    /// The embedding model for this request.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The most texts per request, in place of the provider's limit (for a server that takes fewer,
    /// or to keep each request short). At least 1.
    pub fn batch_size(mut self, texts: usize) -> Self {
        self.batch_size = Some(texts.max(1));
        self
    }

    /// How many requests may be in flight at once when the texts need several (default 1: one
    /// after the other). The order of the vectors is kept whatever the order of the replies.
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
        self
    }

    /// Runs the request.
    pub async fn send(self) -> Result<Embeddings, Error> {
        let client = self.client;
        let dialect = client.dialect().imp();
        let model = self
            .model
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| client.embedding_model().to_owned());
        if self.texts.is_empty() {
            return Ok(Embeddings {
                vectors: Vec::new(),
                usage: None,
                model,
            });
        }
        let size = self
            .batch_size
            .unwrap_or_else(|| dialect.embed_batch_limit());
        let url = dialect.embeddings_url(&client.embeddings_base().await?, &model)?;
        let span = tracing::info_span!(
            "embed",
            model = %model,
            dialect = dialect.name(),
            texts = self.texts.len(),
            requests = self.texts.len().div_ceil(size),
        );
        // Futures are lazy: only `concurrency` of them run at a time.
        let requests: Vec<_> = self
            .texts
            .chunks(size)
            .map(|texts| one_batch(client, dialect, &url, &model, texts))
            .collect();
        let batches: Vec<EmbeddingBatch> = futures_util::stream::iter(requests)
            .buffered(self.concurrency)
            .try_collect()
            .instrument(span)
            .await?;
        join(batches, model)
    }
}

impl<'c> IntoFuture for EmbedRequest<'c> {
    type Output = Result<Embeddings, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// Sends one batch and checks it against what was asked.
async fn one_batch(
    client: &Client,
    dialect: &dyn DialectImpl,
    url: &str,
    model: &str,
    texts: &[String],
) -> Result<EmbeddingBatch, Error> {
    let reply = client
        .post_json(url, &dialect.embeddings_body(model, texts))
        .await?;
    let batch = dialect
        .parse_embeddings(reply.status, &reply.body)
        .map_err(|e| client.scrub(e))?;
    let bad = |what: String| client.scrub(bad_shape(reply.status, &reply.body, what));
    if batch.vectors.len() != texts.len() {
        return Err(bad(format!(
            "asked for {} embeddings, the reply has {}",
            texts.len(),
            batch.vectors.len()
        )));
    }
    check_vectors(&batch.vectors, None).map_err(bad)?;
    Ok(batch)
}

/// Every vector is non-empty, finite, and of the dimension of the first (or of `dimensions`).
fn check_vectors(vectors: &[Vec<f32>], dimensions: Option<usize>) -> Result<(), String> {
    let Some(first) = vectors.first() else {
        return Ok(());
    };
    let d = dimensions.unwrap_or(first.len());
    if d == 0 {
        return Err("an embedding is empty".into());
    }
    for (i, v) in vectors.iter().enumerate() {
        if v.len() != d {
            return Err(format!(
                "the embeddings have different dimensions: {d}, and {} at position {i}",
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(format!(
                "the embedding at position {i} has a value that is not a finite number"
            ));
        }
    }
    Ok(())
}

/// The batches as one result: the vectors in order, the usage summed where reported.
fn join(batches: Vec<EmbeddingBatch>, requested: String) -> Result<Embeddings, Error> {
    let dimensions = batches
        .first()
        .and_then(|b| b.vectors.first())
        .map(Vec::len);
    let mut out = Embeddings {
        vectors: Vec::new(),
        usage: None,
        model: requested,
    };
    let mut reported_model = None;
    for batch in batches {
        // Each batch is consistent in itself; between batches the dimension must not change.
        check_vectors(&batch.vectors, dimensions).map_err(|message| Error::UnexpectedResponse {
            status: 200,
            message: format!("between requests, {message}"),
            body: String::new(),
        })?;
        out.vectors.extend(batch.vectors);
        if let Some(usage) = batch.usage {
            *out.usage.get_or_insert_with(Usage::default) += usage;
        }
        reported_model = reported_model.or(batch.model);
    }
    if let Some(model) = reported_model {
        out.model = model;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_is_defined_only_where_it_means_something() {
        let close = |x: Option<f32>, y: f32| x.is_some_and(|x| (x - y).abs() < 1e-6);
        assert!(close(
            cosine_similarity(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]),
            1.0
        ));
        assert!(close(cosine_similarity(&[1.0, 0.0], &[-1.0, 0.0]), -1.0));
        assert!(close(
            cosine_similarity(&[1.0, 1.0], &[1.0, 0.0]),
            0.70710677
        ));
        assert_eq!(cosine_similarity(&[], &[]), None);
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 0.0]), None);
        assert_eq!(cosine_similarity(&[1.0, 0.0], &[1.0]), None);
        assert_eq!(
            cosine_similarity(&[f32::MAX, f32::MAX], &[1.0, 1.0]),
            Some(1.0)
        );
        assert_eq!(cosine_similarity(&[f32::INFINITY], &[1.0]), None);
    }

    #[test]
    fn nearest_ranks_and_skips_what_cannot_be_compared() {
        let e = Embeddings {
            vectors: vec![
                vec![0.0, 1.0],
                vec![1.0, 0.1],
                vec![1.0],
                vec![0.0, 0.0],
                vec![1.0, 0.0],
                vec![2.0, 0.0],
            ],
            usage: None,
            model: "m".into(),
        };
        let got: Vec<usize> = e.nearest(&[1.0, 0.0], 3).iter().map(|n| n.index).collect();
        assert_eq!(got, [4, 5, 1]);
        assert_eq!(e.nearest(&[1.0, 0.0], 100).len(), 4);
        assert!(e.nearest(&[1.0, 0.0], 0).is_empty());
    }

    #[test]
    fn batches_join_in_order_and_must_agree() {
        let batch = |vectors: Vec<Vec<f32>>, tokens: Option<u64>| EmbeddingBatch {
            vectors,
            usage: tokens.map(|t| Usage::new(t, 0, None)),
            model: None,
        };
        let joined = join(
            vec![
                batch(vec![vec![1.0, 0.0], vec![0.0, 1.0]], Some(3)),
                batch(vec![vec![0.5, 0.5]], None),
                batch(vec![vec![0.2, 0.8]], Some(4)),
            ],
            "m".into(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(joined.vectors[2], [0.5, 0.5]);
        assert_eq!(joined.usage.map(|u| u.prompt_tokens), Some(7));
        assert_eq!(joined.model, "m");
        let mixed = join(
            vec![
                batch(vec![vec![1.0, 0.0]], None),
                batch(vec![vec![1.0]], None),
            ],
            "m".into(),
        );
        assert!(matches!(mixed, Err(Error::UnexpectedResponse { .. })));
        assert!(check_vectors(&[vec![]], None).is_err());
        assert!(check_vectors(&[vec![1.0], vec![f32::NAN]], None).is_err());
    }
}
