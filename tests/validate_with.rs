//! A request's own checks (`ExtractRequest::validate_with`) against a scripted server (wiremock):
//! a failing check is sent back to the model like any violation, fixed on the reask or kept as the
//! evidence of `Error::Invalid`; several checks report together; a check may borrow the caller's
//! data; a stream runs them on the complete value.

use std::time::Duration;

use extract::stream::Update;
use extract::{Client, Error, StopReason};
use extract_workspace_tests::{
    bodies, completion, ok, ok_sse, server_with, sse, CalendarEvent, EVENT,
};
use wiremock::MockServer;

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid configuration")
}

/// Only people on the guest list may be participants: a rule of this call, not of the type.
fn on_the_list<'a>(list: &'a [&'a str]) -> impl Fn(&CalendarEvent) -> Result<(), String> + 'a {
    move |event| match event
        .participants
        .iter()
        .find(|p| !list.contains(&p.as_str()))
    {
        Some(p) => Err(format!("{p} is not on the guest list {list:?}")),
        None => Ok(()),
    }
}

#[tokio::test]
async fn a_failed_check_is_sent_back_and_fixed() {
    let fixed = r#"{"name":"Science fair","date":"Friday","participants":["Alice"]}"#;
    let server = server_with(vec![ok(completion(EVENT)), ok(completion(fixed))]).await;
    // Borrowed, not moved: the check lives as long as the request.
    let guests = vec!["Alice", "Carol"];
    let extraction = client(&server)
        .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
        .validate_with(on_the_list(&guests))
        .await
        .expect("fixed on the reask");
    assert_eq!(extraction.value.participants, ["Alice"]);
    assert_eq!(extraction.attempts, 2);
    let feedback = bodies(&server).await[1]["messages"][3]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        feedback.contains(r#"(root): Bob is not on the guest list ["Alice", "Carol"]"#),
        "{feedback}"
    );
}

#[tokio::test]
async fn a_check_that_keeps_failing_ends_in_invalid_with_the_evidence() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let guests = ["Carol"];
    let result = client(&server)
        .extract::<CalendarEvent>("text")
        .validate_with(on_the_list(&guests))
        .max_reasks(3)
        .await;
    match result {
        Err(Error::Invalid {
            raw,
            errors,
            attempts,
            stop,
            ..
        }) => {
            assert_eq!(raw, EVENT);
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].path, "");
            assert!(errors[0].message.contains("Alice is not on the guest list"));
            // The same answer twice in a row: asking a third time is unlikely to help.
            assert_eq!((attempts, stop), (2, StopReason::RepeatedErrors));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_check_runs_and_every_failure_is_reported() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let result = client(&server)
        .extract::<CalendarEvent>("text")
        .validate_with(|e: &CalendarEvent| {
            if e.date == "Friday" {
                Err("the fair is on Saturday this year")
            } else {
                Ok(())
            }
        })
        .validate_with(|e: &CalendarEvent| match e.participants.len() {
            n if n > 1 => Err(format!("{n} participants, but only one ticket")),
            _ => Ok(()),
        })
        .validate_with(|_: &CalendarEvent| Ok::<(), String>(()))
        .max_reasks(0)
        .await;
    match result {
        Err(Error::Invalid {
            errors,
            attempts: 1,
            ..
        }) => {
            let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
            assert_eq!(
                messages,
                [
                    "the fair is on Saturday this year",
                    "2 participants, but only one ticket"
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn passing_checks_change_nothing() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let guests = ["Alice", "Bob"];
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .validate_with(on_the_list(&guests))
        .await
        .expect("valid at once");
    assert_eq!(extraction.attempts, 1);
    assert_eq!(extraction.raw, EVENT);
}

#[tokio::test]
async fn a_stream_runs_the_checks_on_the_complete_value() {
    let fixed = r#"{"name":"Science fair","date":"Friday","participants":["Alice"]}"#;
    let server = server_with(vec![
        ok_sse(sse(EVENT, 8, "stop")),
        ok_sse(sse(fixed, 8, "stop")),
    ])
    .await;
    let guests = ["Alice"];
    let client = client(&server);
    let mut stream = client
        .extract::<CalendarEvent>("text")
        .validate_with(on_the_list(&guests))
        .stream();
    let mut reasks = Vec::new();
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.expect("no error") {
            Update::Partial(_) => {}
            Update::Reask { errors, .. } => reasks.push(errors),
            Update::Done(extraction) => done = Some(extraction),
        }
    }
    assert_eq!(reasks.len(), 1);
    assert!(reasks[0][0]
        .message
        .contains("Bob is not on the guest list"));
    assert_eq!(done.expect("done").value.participants, ["Alice"]);
}
