//! The local preset's defaults (`extract::local::builder`): temperature 0 and a bound on the reply's
//! tokens, sent by every request that does not set its own, and the fields named in the default
//! instructions. Against the `testing` stand-in, so the request is read exactly.

use extract::testing::MockProvider;
use extract::Client;
use extract_workspace_tests::{CalendarEvent, EVENT};

#[tokio::test]
async fn the_local_preset_sends_its_sampling_and_a_request_overrides_it() {
    let mock = MockProvider::start().await;
    mock.reply_text(EVENT).reply_text(EVENT).reply_text(EVENT);
    let local = extract::local::builder(&mock.uri())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    local
        .extract::<CalendarEvent>("Alice and Bob, Friday.")
        .await
        .expect("a value");
    local
        .extract::<CalendarEvent>("Alice and Bob, Friday.")
        .temperature(0.5)
        .max_tokens(32)
        .await
        .expect("a value");
    let plain = Client::builder()
        .base_url(mock.uri())
        .model("m")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    plain
        .extract::<CalendarEvent>("Alice and Bob, Friday.")
        .await
        .expect("a value");

    let requests = mock.requests();
    let max_tokens = |i: usize| requests[i].body.get("max_tokens").and_then(|v| v.as_u64());
    assert_eq!(requests[0].temperature(), Some(0.0));
    assert_eq!(max_tokens(0), Some(u64::from(extract::local::MAX_TOKENS)));
    assert_eq!(requests[1].temperature(), Some(0.5));
    assert_eq!(max_tokens(1), Some(32));
    // Elsewhere nothing changes: the server's own sampling.
    assert_eq!(requests[2].temperature(), None);
    assert_eq!(max_tokens(2), None);
}

#[tokio::test]
async fn default_instructions_name_each_field_with_its_description() {
    let mock = MockProvider::start().await;
    mock.reply_text(EVENT);
    mock.client()
        .extract::<CalendarEvent>("Alice and Bob, Friday.")
        .await
        .expect("a value");
    let system = mock.requests()[0]
        .system_message()
        .expect("a system turn")
        .to_owned();
    assert!(
        system.ends_with("\n\nFields:\n- name: Short name of the event\n- date\n- participants"),
        "{system}"
    );
}
