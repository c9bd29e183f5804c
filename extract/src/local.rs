//! The embedded default provider: llama.cpp's server serving SmolLM2-135M-Instruct on 127.0.0.1, the
//! prebuilt one from PyPI's `xllamacpp` wheel in a virtual environment of its own, cached (see
//! `extract/scripts/local-model.sh`, which this module runs). The first start installs the wheel and
//! fetches the model, seconds on a fast line, and says so on stderr a line a step; later starts take
//! a second or two. Where no wheel fits, the script builds `llama-server` from source instead.
//!
//! Embeddings come from a second server with the same model file (one slot, mean pooling: this
//! llama.cpp build pools wrongly when two sequences share a batch, which a chat server's parallel
//! slots do). A local client starts it on its first [`Client::embed`], and keeps it as long as
//! itself.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::builder::ClientBuilder;
use crate::client::{BoxFuture, Client, Companion};
use crate::error::Error;

const SCRIPT: &str = include_str!("../scripts/local-model.sh");
/// The model name requests carry; llama-server serves whatever it loaded, whatever the name.
pub const MODEL: &str = "SmolLM2-135M-Instruct";
/// Set this to the base URL of a running server (`http://127.0.0.1:8080/v1`) to use it instead of
/// starting one.
pub const URL_VAR: &str = "EXTRACT_LOCAL_BASE_URL";
/// Set this to the base URL of a running embeddings server (`scripts/local-model.sh
/// start-embeddings`) to use it instead of starting one.
pub const EMBED_URL_VAR: &str = "EXTRACT_LOCAL_EMBED_URL";

/// The most tokens a reply of the local preset may have. Measured (README, "Quality of the embedded
/// default"): the longest typed reply of the evaluation used fewer than a hundred tokens, and a
/// runaway that never closes a string ends here, as [`Error::Truncated`] with its text, in seconds
/// rather than at the client's timeout.
pub const MAX_TOKENS: u32 = 256;

/// A client builder for a server of the embedded model at `base_url` (what [`LocalModel`] starts, or
/// one started by `scripts/local-model.sh start`), with the defaults measured for extraction with
/// it: temperature 0 (the most likely reading, and a small model wanders less) and
/// `max_tokens` [`MAX_TOKENS`]. A request's own `.temperature(..)` or `.max_tokens(..)` overrides them,
/// as do the builder's.
pub fn builder(base_url: &str) -> ClientBuilder {
    Client::llama_cpp(base_url)
        .model(MODEL)
        .temperature(0.0)
        .max_tokens(MAX_TOKENS)
}

/// A running local model server; stopped when dropped.
#[derive(Debug)]
pub struct LocalModel {
    base_url: String,
    child: Option<Child>,
    /// The embeddings server, once a client of this one asked for embeddings.
    embeddings: Mutex<Option<Arc<LocalModel>>>,
}

/// What a server is started for.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Chat,
    Embeddings,
}

impl Kind {
    fn url_var(self) -> &'static str {
        match self {
            Kind::Chat => URL_VAR,
            Kind::Embeddings => EMBED_URL_VAR,
        }
    }

    fn command(self) -> &'static str {
        match self {
            Kind::Chat => "serve",
            Kind::Embeddings => "serve-embeddings",
        }
    }
}

impl LocalModel {
    /// Installs (once, cached) and starts the server on a free port, and waits until it is healthy.
    /// With `EXTRACT_LOCAL_BASE_URL` set, uses that server instead.
    pub async fn start() -> Result<LocalModel, Error> {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .map_err(|e| Error::config(format!("the local model task failed: {e}")))?
    }

    /// [`start`](Self::start) for callers without an async runtime.
    pub fn start_blocking() -> Result<LocalModel, Error> {
        Self::spawn(Kind::Chat)
    }

    /// Starts the embeddings server on its own (it serves `/v1/embeddings` only); with
    /// `EXTRACT_LOCAL_EMBED_URL` set, uses that server instead. A client of [`start`](Self::start)
    /// does this by itself on its first [`Client::embed`].
    pub async fn start_embeddings() -> Result<LocalModel, Error> {
        tokio::task::spawn_blocking(Self::start_embeddings_blocking)
            .await
            .map_err(|e| Error::config(format!("the local model task failed: {e}")))?
    }

    /// [`start_embeddings`](Self::start_embeddings) for callers without an async runtime.
    pub fn start_embeddings_blocking() -> Result<LocalModel, Error> {
        Self::spawn(Kind::Embeddings)
    }

    /// The base URL of this model's embeddings server, started on the first call.
    pub(crate) async fn embeddings_base_url(&self) -> Result<String, Error> {
        if let Some(running) = self.lock_embeddings().as_ref() {
            return Ok(running.base_url.clone());
        }
        let started = Arc::new(Self::start_embeddings().await?);
        // Two first calls at once may both start one; the first stored wins, the other is dropped
        // (and so stopped).
        let mut slot = self.lock_embeddings();
        Ok(slot.get_or_insert(started).base_url.clone())
    }

    fn lock_embeddings(&self) -> std::sync::MutexGuard<'_, Option<Arc<LocalModel>>> {
        self.embeddings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(kind: Kind) -> Result<LocalModel, Error> {
        if let Ok(url) = std::env::var(kind.url_var()) {
            if !url.trim().is_empty() {
                return Ok(LocalModel {
                    base_url: url.trim().trim_end_matches('/').to_owned(),
                    child: None,
                    embeddings: Mutex::new(None),
                });
            }
        }
        let script = script_path()?;
        let status = Command::new("bash")
            .arg(&script)
            .arg("install")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| Error::config(format!("could not run bash for the local model: {e}")))?;
        if !status.success() {
            return Err(Error::config(format!(
                "installing the local model failed ({status}); see the messages above, or run `bash {}` install",
                script.display()
            )));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::config(format!("no free port on 127.0.0.1: {e}")))?
            .port();
        let child = Command::new("bash")
            .arg(&script)
            .arg(kind.command())
            .arg(port.to_string())
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::config(format!("could not start the local model: {e}")))?;
        let mut local = LocalModel {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            child: Some(child),
            embeddings: Mutex::new(None),
        };
        local.wait_healthy(port, Duration::from_secs(120))?;
        Ok(local)
    }

    fn wait_healthy(&mut self, port: u16, limit: Duration) -> Result<(), Error> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = pipe.read_to_string(&mut stderr);
                    }
                    return Err(Error::config(format!(
                        "the local model server exited ({status}): {stderr}"
                    )));
                }
            }
            if health(port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(Error::config(format!(
            "the local model server was not healthy within {limit:?}"
        )))
    }

    /// The server's OpenAI-compatible base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A client builder for this server, with the local preset's defaults ([`builder`]).
    pub fn client_builder(&self) -> ClientBuilder {
        builder(&self.base_url)
    }

    /// A client that keeps this server running for as long as it (or a clone) lives.
    pub fn into_client(self) -> Result<Client, Error> {
        let builder = self.client_builder();
        builder.companion(Arc::new(self)).build()
    }
}

/// The client keeps the server alive, and asks it for the embeddings server.
impl Companion for LocalModel {
    fn embeddings_base_url(&self) -> Option<BoxFuture<'_, Result<String, Error>>> {
        Some(Box::pin(LocalModel::embeddings_base_url(self)))
    }
}

impl Drop for LocalModel {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The script forwards the TERM to llama-server; its watchdog also stops the server when
            // this process dies without dropping (statics are never dropped).
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }
}

impl Client {
    /// The configured provider ([`Client::from_env`]) when the environment names one (`OPENAI_API_KEY`,
    /// `OPENAI_BASE_URL`, `ANTHROPIC_API_KEY` or `EXTRACT_MODEL`), and otherwise the local model,
    /// started on demand.
    pub async fn from_env_or_local() -> Result<Client, Error> {
        let configured = [
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "ANTHROPIC_API_KEY",
            "EXTRACT_MODEL",
        ]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|v| !v.trim().is_empty()));
        if configured {
            return Client::from_env();
        }
        LocalModel::start().await?.into_client()
    }
}

fn health(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    matches!(stream.read(&mut head), Ok(n) if n >= 12 && &head[9..12] == b"200")
}

/// Writes the embedded script into the cache directory (so the crate works outside this repository).
fn script_path() -> Result<PathBuf, Error> {
    let dir = match std::env::var_os("EXTRACT_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .ok_or_else(|| Error::config("neither EXTRACT_CACHE_DIR nor HOME is set"))?;
            home.join("extract")
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::config(format!("could not create {}: {e}", dir.display())))?;
    let path = dir.join("local-model.sh");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(SCRIPT) {
        let tmp = dir.join(format!("local-model.sh.{}", std::process::id()));
        std::fs::write(&tmp, SCRIPT)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::config(format!("could not write {}: {e}", path.display())))?;
    }
    Ok(path)
}
