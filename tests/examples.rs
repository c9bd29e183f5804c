//! The examples are documentation, so they are run: each one against the scripted stand-in of the
//! `testing` feature (its exact output and the requests it made), and against the real local model
//! in the live tier. They are the binaries `cargo test` builds beside this one.

use std::path::PathBuf;
use std::process::{Command, Output};

use extract::testing::MockProvider;
use extract_workspace_tests::{live_base_url, live_embeddings_url};
use serde_json::json;

/// The built example `name`, next to this test binary (`target/debug/examples/name`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug");
    let path = debug
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// The live examples run one at a time: each sends several requests, and a 4-slot 135M server
/// shared by a dozen programs at once would time them out rather than test them.
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn live_turn() -> std::sync::MutexGuard<'static, ()> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs an example with the provider at `base_url` (and no other configuration from the outside).
fn run(name: &str, base_url: &str, model: &str, args: &[&str], dir: &std::path::Path) -> Output {
    let output = Command::new(example(name))
        .args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_MODEL")
        .env_remove("EXTRACT_LOCAL_BASE_URL")
        .env("OPENAI_BASE_URL", base_url)
        .env("EXTRACT_MODEL", model)
        .output()
        .expect("the example runs");
    assert!(
        output.status.success(),
        "{name} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "extract-examples-{}-{}",
        std::process::id(),
        fastrand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

// ---- against the scripted stand-in ----

#[tokio::test(flavor = "multi_thread")]
async fn calendar_event_prints_the_extracted_event() {
    let mock = MockProvider::start().await;
    mock.reply_value(
        &json!({"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}),
    );
    let out = tokio::task::spawn_blocking({
        let uri = mock.uri();
        move || run("calendar_event", &uri, "mock-model", &[], &scratch())
    })
    .await
    .expect("joined");
    let text = stdout(&out);
    assert!(text.contains("name:         Science fair"), "{text}");
    assert!(text.contains("participants: Alice, Bob"), "{text}");
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].last_user_message(),
        Some("Alice and Bob are going to a science fair on Friday.")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_partial_prints_partials_then_the_value() {
    let mock = MockProvider::start().await;
    mock.reply_value(
        &json!({"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}),
    );
    let out = tokio::task::spawn_blocking({
        let uri = mock.uri();
        move || run("stream_partial", &uri, "mock-model", &[], &scratch())
    })
    .await
    .expect("joined");
    let text = stdout(&out);
    let partials = text.lines().filter(|l| l.starts_with('…')).count();
    assert!(partials > 3, "{text}");
    assert!(
        text.contains("= Science fair on Friday with Alice, Bob"),
        "{text}"
    );
    assert!(mock.requests()[0].is_stream());
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_keeps_its_history_in_a_file_and_summarises_it() {
    let mock = MockProvider::start().await;
    mock.reply_text("Lisbon is lovely in May.")
        .reply_text("Pack light layers.")
        .reply_value(
            &json!({"topic": "A trip to Lisbon", "requests": ["plan a weekend", "what to pack"]}),
        );
    let dir = scratch();
    let uri = mock.uri();
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            run(
                "chat",
                &uri,
                "mock-model",
                &["Plan a weekend in Lisbon", "What should I pack?"],
                &dir,
            )
        }
    })
    .await
    .expect("joined");
    let text = stdout(&out);
    assert!(text.contains("assistant: Pack light layers."), "{text}");
    assert!(text.contains("topic:     A trip to Lisbon"), "{text}");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("chat-history.json")).expect("the history file"),
    )
    .expect("JSON");
    assert_eq!(stored.as_array().map(Vec::len), Some(4));
    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    // The second turn carries the first exchange; the summary sees the whole conversation.
    assert_eq!(requests[1].messages().len(), 4);
    assert!(requests[2].response_format().is_some());
    assert_eq!(requests[2].messages().len(), 6);
}

// ---- against the live local model ----

fn live(name: &str, args: &[&str]) -> Option<String> {
    let url = live_base_url()?;
    let _turn = live_turn();
    let out = run(name, &url, extract::local::MODEL, args, &scratch());
    Some(stdout(&out))
}

/// A live run that may also end with a typed `Truncated` (a 135M model can run on until the token
/// limit even inside bounded strings): the example must end in a value or that error, nothing else.
fn live_or_truncated(name: &str, args: &[&str]) -> Option<String> {
    let url = live_base_url()?;
    let _turn = live_turn();
    let output = Command::new(example(name))
        .args(args)
        .current_dir(scratch())
        .env_remove("OPENAI_API_KEY")
        .env_remove("EXTRACT_LOCAL_BASE_URL")
        .env("OPENAI_BASE_URL", &url)
        .env("EXTRACT_MODEL", extract::local::MODEL)
        .output()
        .expect("runs");
    let text = stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() || stderr.contains("Error: Truncated"),
        "{name} failed: {text}\n{stderr}"
    );
    Some(text)
}

#[test]
fn live_fallback_goes_past_a_server_that_is_down() {
    let Some(text) = live_or_truncated("fallback", &[]) else {
        return;
    };
    if text.is_empty() {
        return; // a typed Truncated from the small model, which the helper allowed
    }
    assert!(text.contains("answered by:  openai-compatible"), "{text}");
    assert!(text.contains("name:"), "{text}");
}

#[test]
fn live_calendar_event() {
    let Some(text) = live("calendar_event", &[]) else {
        return;
    };
    assert!(text.contains("name:"), "{text}");
}

#[test]
fn live_stream_partial() {
    let Some(text) = live("stream_partial", &[]) else {
        return;
    };
    assert!(text.lines().any(|l| l.starts_with('=')), "{text}");
}

#[test]
fn live_stream_text() {
    let Some(text) = live("stream_text", &[]) else {
        return;
    };
    assert!(!text.trim().is_empty());
}

#[test]
fn live_stream_elements() {
    let Some(_) = live_or_truncated("stream_elements", &[]) else {
        return;
    };
}

#[test]
fn live_chat() {
    let Some(text) = live_or_truncated("chat", &["Plan a weekend in Lisbon."]) else {
        return;
    };
    assert!(text.contains("assistant:"), "{text}");
}

#[test]
fn live_blocking() {
    let Some(text) = live("blocking", &[]) else {
        return;
    };
    assert!(!text.trim().is_empty());
}

#[test]
fn mocked_runs_its_scripted_scenario() {
    // No provider at all: the example brings its own stand-in.
    let output = Command::new(example("mocked"))
        .current_dir(scratch())
        .output()
        .expect("runs");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("reasked once"), "{text}");
    assert!(text.contains("rate limited, as scripted"), "{text}");
}

#[test]
fn live_caching_answers_the_second_time_from_the_cache() {
    let Some(text) = live("caching", &[]) else {
        return;
    };
    assert!(
        text.contains("round 2:") && text.contains("cache HIT (local) · 0 tokens"),
        "{text}"
    );
    assert!(text.contains("hits 1 · misses 1"), "{text}");
}

#[test]
fn live_errors_are_explained() {
    let Some(text) = live("errors", &[]) else {
        return;
    };
    assert!(text.contains("cut off at the token limit"), "{text}");
    assert!(text.contains("transport error"), "{text}");
}

/// Runs an example as a user with no provider configured would: the local model for chat, and the
/// local embeddings server beside it.
fn live_local(name: &str) -> Option<String> {
    live_local_allowing(name, &[])
}

/// [`live_local`], where the example may also end with one of the typed errors in `allowed` (a 135M
/// model can run on until the token limit, which the example reports as `Truncated`).
fn live_local_allowing(name: &str, allowed: &[&str]) -> Option<String> {
    let url = live_base_url()?;
    let embed = live_embeddings_url()?;
    let _turn = live_turn();
    let output = Command::new(example(name))
        .current_dir(scratch())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("EXTRACT_MODEL")
        .env("EXTRACT_LOCAL_BASE_URL", url)
        .env("EXTRACT_LOCAL_EMBED_URL", embed)
        .output()
        .expect("runs");
    let text = stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success()
            || allowed
                .iter()
                .any(|e| stderr.contains(&format!("Error: {e}"))),
        "{name} failed: {text}\n{stderr}"
    );
    Some(text)
}

#[test]
fn live_moderation() {
    let Some(text) = live_local("moderation") else {
        return;
    };
    assert!(!text.trim().is_empty());
}

#[test]
fn live_embeddings() {
    let Some(text) = live_local("embeddings") else {
        return;
    };
    assert!(!text.trim().is_empty());
}

#[test]
fn live_rag() {
    let Some(text) = live_local_allowing("rag", &["Truncated"]) else {
        return;
    };
    assert!(text.contains("retrieved ["), "{text}");
}

#[test]
fn live_models() {
    let Some(text) = live_local("models") else {
        return;
    };
    assert!(!text.trim().is_empty());
}
