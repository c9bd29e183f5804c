//! A deliberately crude HTTP/1.1 server for what wiremock cannot do: send a body in timed pieces,
//! stall, or drop the connection in the middle, and notice when the client hangs up.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One step of a scripted reply.
#[derive(Debug, Clone)]
pub enum Step {
    /// Write these bytes as one chunk of a chunked body.
    Send(Vec<u8>),
    /// Wait before the next step.
    Sleep(Duration),
    /// Close the connection here, without ending the body.
    Cut,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Requests received.
    pub requests: AtomicUsize,
    /// Whether a write failed because the client had gone (the request was cancelled).
    pub client_gone: AtomicBool,
}

/// A server answering every request with the same status, content type and scripted body.
pub struct RawServer {
    /// `http://127.0.0.1:port/v1`
    pub base_url: String,
    /// What it saw.
    pub seen: Arc<Seen>,
}

impl RawServer {
    /// Starts it on a free port; it lives as long as the test's runtime.
    pub async fn start(content_type: &'static str, steps: Vec<Step>) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let seen = Arc::new(Seen::default());
        let seen_by_server = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let steps = steps.clone();
                let seen = seen_by_server.clone();
                tokio::spawn(async move {
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
                    seen.requests.fetch_add(1, Ordering::SeqCst);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                    );
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        seen.client_gone.store(true, Ordering::SeqCst);
                        return;
                    }
                    for step in steps {
                        match step {
                            Step::Send(bytes) => {
                                let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                                framed.extend_from_slice(&bytes);
                                framed.extend_from_slice(b"\r\n");
                                if socket.write_all(&framed).await.is_err()
                                    || socket.flush().await.is_err()
                                {
                                    seen.client_gone.store(true, Ordering::SeqCst);
                                    return;
                                }
                            }
                            Step::Sleep(d) => tokio::time::sleep(d).await,
                            Step::Cut => return,
                        }
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        RawServer {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            seen,
        }
    }

    /// A client for it.
    pub fn client(&self) -> extract::Client {
        extract::Client::builder()
            .base_url(&self.base_url)
            .model("test-model")
            .timeout(Duration::from_secs(2))
            .transport_retries(0)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
