//! A deliberately crude HTTP/1.1 server for what wiremock cannot do: send a body in timed pieces,
//! stall, never answer, or drop or reset the connection in the middle, and notice when the client
//! hangs up.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One step of a scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes: as one chunk of a chunked body, or as they are after a `content-length`.
    Send(Vec<u8>),
    /// Wait before the next step.
    Sleep(Duration),
    /// Close the connection here, without ending the body.
    Cut,
    /// Reset the connection here (a TCP RST, as a crashed proxy sends), without ending the body.
    Reset,
    /// Send nothing more and wait until the client hangs up, which marks [`Seen::client_gone`].
    Hold,
}

/// How a reply starts.
#[derive(Debug, Clone, Copy)]
pub enum Head {
    /// A status line, `transfer-encoding: chunked`; each [`Step::Send`] is one chunk.
    Chunked,
    /// A status line and `content-length` of this many bytes; each [`Step::Send`] is written as is.
    Length(usize),
    /// Nothing at all: the headers never come.
    Never,
}

/// One scripted reply.
#[derive(Debug, Clone)]
pub struct RawReply {
    /// HTTP status.
    pub status: u16,
    /// `content-type` header.
    pub content_type: &'static str,
    /// How the head and body are framed.
    pub head: Head,
    /// The body, step by step.
    pub steps: Vec<Step>,
}

impl RawReply {
    /// A `200 OK` with a chunked body.
    pub fn chunked(content_type: &'static str, steps: Vec<Step>) -> RawReply {
        RawReply {
            status: 200,
            content_type,
            head: Head::Chunked,
            steps,
        }
    }

    /// A complete reply with a `content-length`.
    pub fn whole(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> RawReply {
        let body = body.into();
        RawReply {
            status,
            content_type,
            head: Head::Length(body.len()),
            steps: vec![Step::Send(body)],
        }
    }
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests received.
    pub requests: AtomicUsize,
    /// Whether the client went away before the reply was complete (a write failed, or a
    /// [`Step::Hold`] saw the connection close): the request was cancelled.
    pub client_gone: AtomicBool,
}

impl Seen {
    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the client to hang up; whether it did.
    pub async fn client_gone_within(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.client_gone.load(Ordering::SeqCst) {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// A server answering each request with the next reply of a script (the last one repeats).
pub struct RawServer {
    /// `http://127.0.0.1:port/v1`
    pub base_url: String,
    /// What it saw.
    pub seen: Arc<Seen>,
}

impl RawServer {
    /// Starts one answering every request with the same status `200`, content type and chunked
    /// body, on a free port; it lives as long as the test's runtime.
    pub async fn start(content_type: &'static str, steps: Vec<Step>) -> RawServer {
        RawServer::script(vec![RawReply::chunked(content_type, steps)]).await
    }

    /// Starts one answering the n-th request with the n-th reply (the last one repeats).
    pub async fn script(replies: Vec<RawReply>) -> RawServer {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let seen = Arc::new(Seen::default());
        let seen_by_server = seen.clone();
        let replies = Arc::new(replies);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let replies = replies.clone();
                let seen = seen_by_server.clone();
                tokio::spawn(serve(socket, replies, seen));
            }
        });
        RawServer {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            seen,
        }
    }

    /// A client for it: 2 s timeout, no transport retries.
    pub fn client(&self) -> extract::Client {
        self.builder().build().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The builder behind [`client`](Self::client), to change a setting.
    pub fn builder(&self) -> extract::ClientBuilder {
        extract::Client::builder()
            .base_url(&self.base_url)
            .model("test-model")
            .timeout(Duration::from_secs(2))
            .max_resends(0)
    }
}

/// One connection: read the request, answer with the reply its place in the script names.
async fn serve(mut socket: TcpStream, replies: Arc<Vec<RawReply>>, seen: Arc<Seen>) {
    // Read the request head and body (Content-Length) before answering.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    let n = seen.requests.fetch_add(1, Ordering::SeqCst);
    let reply = &replies[n.min(replies.len() - 1)];
    let chunked = matches!(reply.head, Head::Chunked);
    let framing = match reply.head {
        Head::Chunked => "transfer-encoding: chunked".to_owned(),
        Head::Length(len) => format!("content-length: {len}"),
        Head::Never => String::new(),
    };
    if !framing.is_empty() {
        let head = format!(
            "HTTP/1.1 {} Scripted\r\ncontent-type: {}\r\n{framing}\r\nconnection: close\r\n\r\n",
            reply.status, reply.content_type
        );
        if socket.write_all(head.as_bytes()).await.is_err() {
            seen.client_gone.store(true, Ordering::SeqCst);
            return;
        }
    }
    let steps = if matches!(reply.head, Head::Never) {
        vec![Step::Hold]
    } else {
        reply.steps.clone()
    };
    for step in steps {
        match step {
            Step::Send(bytes) => {
                let framed = if chunked {
                    let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                    framed.extend_from_slice(&bytes);
                    framed.extend_from_slice(b"\r\n");
                    framed
                } else {
                    bytes
                };
                if socket.write_all(&framed).await.is_err() || socket.flush().await.is_err() {
                    seen.client_gone.store(true, Ordering::SeqCst);
                    return;
                }
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::Cut => return,
            Step::Reset => {
                let _ = socket.set_zero_linger();
                return;
            }
            Step::Hold => {
                // Whatever the client still sends is read and ignored; the end of it is the client
                // hanging up.
                while matches!(socket.read(&mut chunk).await, Ok(n) if n > 0) {}
                seen.client_gone.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
    if chunked {
        let _ = socket.write_all(b"0\r\n\r\n").await;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
