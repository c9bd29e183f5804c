//! Input limits: how many tokens an extraction's input may have, how they are counted (a
//! conservative estimate by default, exactly with a tokenizer), and what happens to an input over the
//! limit: rejected with [`Error::InputTooLong`] before anything is sent, or truncated to fit.
//!
//! ```no_run
//! # async fn run(text: String) -> Result<(), extract::Error> {
//! use extract::{Client, InputPolicy};
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080/v1")
//!     .model("m")
//!     .max_input_tokens(6_000)                  // leave room for instructions, schema and reply
//!     .on_long_input(InputPolicy::TruncateEnd)  // or Reject (the default)
//!     .build()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::Error;
use crate::options::Options;
use crate::schema::Prepared;
use crate::vocab::Turn;
use crate::vocab::{Input, Message, Mode, Role};

pub use crate::options::InputPolicy;

/// Counts the tokens of a text: [`estimate`] by default; an exact tokenizer where the limit is
/// tight (with the `tiktoken` feature, `o200k` or `cl100k`; or your model's own).
pub type TokenCounter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

/// The client's input limit settings; a request may override the limit and the policy.
#[derive(Clone, Default)]
pub(crate) struct InputLimit {
    pub(crate) max_tokens: Option<u64>,
    pub(crate) policy: Option<InputPolicy>,
    pub(crate) counter: Option<TokenCounter>,
}

impl fmt::Debug for InputLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InputLimit")
            .field("max_tokens", &self.max_tokens)
            .field("policy", &self.policy)
            .field(
                "counter",
                &if self.counter.is_some() {
                    "custom"
                } else {
                    "estimate"
                },
            )
            .finish()
    }
}

/// A conservative estimate of the tokens of `text`, without a tokenizer. It counts by kind of
/// character: a run of ASCII letters as one token per 3 letters, a run of ASCII punctuation as one
/// per 3 marks, every digit as one, a run of spaces as one per 4 (the first space joins the word
/// after it), every newline or other control as one, and a non-ASCII character as 1, 2 or 3 tokens
/// for its 2, 3 or 4 bytes of UTF-8 (accented and Cyrillic letters; CJK; emoji).
///
/// It is meant to err high, so that an input it passes fits. Measured against OpenAI's
/// `o200k_base` and `cl100k_base` (which Llama 3's tokenizer extends) on English prose, Rust code,
/// JSON, numbers, random identifiers, German, French, Russian, Chinese, Japanese and emoji, it never
/// counted fewer tokens than they do: about 1.6 to 1.8 times as many on English prose and code, 1.4
/// on JSON, 2 on numbers, 1.05 to 1.1 on random identifiers (its tightest case) and up to 4 on
/// Russian with `o200k_base`. Tokenizers with small vocabularies split more: against SmolLM2's
/// (49k tokens) it was 1.0 to 1.5 times the count, except random identifiers (0.8). Where the limit
/// is tight, count exactly with [`ClientBuilder::token_counter`](crate::ClientBuilder::token_counter).
pub fn estimate(text: &str) -> usize {
    #[derive(PartialEq)]
    enum Run {
        None,
        Letters,
        Punct,
    }
    let mut tokens = 0usize;
    let mut run = Run::None;
    let mut run_len = 0usize;
    let mut spaces = 0usize;
    fn flush(tokens: &mut usize, run: &mut Run, run_len: &mut usize) {
        if *run != Run::None {
            *tokens += run_len.div_ceil(3);
        }
        *run = Run::None;
        *run_len = 0;
    }
    for c in text.chars() {
        let kind = if c.is_ascii_alphabetic() {
            Run::Letters
        } else if c.is_ascii_punctuation() {
            Run::Punct
        } else {
            Run::None
        };
        if c == ' ' {
            flush(&mut tokens, &mut run, &mut run_len);
            spaces += 1;
            continue;
        }
        if kind != Run::None {
            if kind != run {
                flush(&mut tokens, &mut run, &mut run_len);
                // One space joins the word or punctuation after it.
                tokens += spaces.saturating_sub(1).div_ceil(4);
                spaces = 0;
                run = kind;
            }
            run_len += 1;
            continue;
        }
        flush(&mut tokens, &mut run, &mut run_len);
        tokens += spaces.div_ceil(4);
        spaces = 0;
        tokens += match c.len_utf8() {
            1 => 1,
            n => n - 1,
        };
    }
    flush(&mut tokens, &mut run, &mut run_len);
    tokens + spaces.div_ceil(4)
}

/// The exact token count with OpenAI's `o200k_base` (GPT-4o, GPT-4.1, o-series), bundled with the
/// `tiktoken` feature and loaded once on first use. Use it as
/// `.token_counter(extract::tokens::o200k)`.
#[cfg(feature = "tiktoken")]
pub fn o200k(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// The exact token count with OpenAI's `cl100k_base` (GPT-4, GPT-3.5), as [`o200k`].
#[cfg(feature = "tiktoken")]
pub fn cl100k(text: &str) -> usize {
    tiktoken_rs::cl100k_base_singleton()
        .encode_with_special_tokens(text)
        .len()
}

/// An input over the limit that the policy rejects (or that truncation would leave empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong {
    pub(crate) tokens: u64,
    pub(crate) limit: u64,
}

impl From<TooLong> for Error {
    fn from(refused: TooLong) -> Error {
        Error::InputTooLong {
            tokens: refused.tokens,
            limit: refused.limit,
        }
    }
}

/// The request's input under the request's (or else the client's) limit: `None` when there is no
/// limit or it fits, the truncated input when the policy says so, [`TooLong`] otherwise.
pub(crate) fn apply_limit(
    settings: &InputLimit,
    options: &Options,
    input: &Input,
) -> Result<Option<Input>, TooLong> {
    let Some(limit) = options.max_input_tokens.or(settings.max_tokens) else {
        return Ok(None);
    };
    let policy = options
        .on_long_input
        .or(settings.policy)
        .unwrap_or_default();
    let count: &dyn Fn(&str) -> usize = match &settings.counter {
        Some(counter) => counter.as_ref(),
        None => &estimate,
    };
    let fits = match input {
        Input::Text(text) => count(text) as u64 <= limit,
        Input::Messages(messages) => {
            messages
                .iter()
                .map(|m| count(&m.content) as u64)
                .sum::<u64>()
                <= limit
        }
    };
    if fits {
        return Ok(None);
    }
    limit_input(input.clone(), limit, policy, count).map(Some)
}

/// Applies `limit` to `input`: unchanged when it fits; rejected or truncated when not.
pub(crate) fn limit_input(
    input: Input,
    limit: u64,
    policy: InputPolicy,
    count: &dyn Fn(&str) -> usize,
) -> Result<Input, TooLong> {
    let too_long = |tokens: usize| TooLong {
        tokens: tokens as u64,
        limit,
    };
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match input {
        Input::Text(text) => {
            let tokens = count(&text);
            if tokens <= limit_usize {
                return Ok(Input::Text(text));
            }
            let kept = match policy {
                InputPolicy::Reject => return Err(too_long(tokens)),
                InputPolicy::TruncateEnd => prefix(&text, limit_usize, count).trim_end(),
                InputPolicy::TruncateStart => suffix(&text, limit_usize, count).trim_start(),
            };
            if kept.trim().is_empty() {
                return Err(too_long(tokens));
            }
            tracing::info!(tokens, limit, "the input was truncated to the token limit");
            Ok(Input::Text(kept.to_owned()))
        }
        Input::Messages(messages) => {
            let counts: Vec<usize> = messages.iter().map(|m| count(&m.content)).collect();
            let tokens: usize = counts.iter().sum();
            if tokens <= limit_usize {
                return Ok(Input::Messages(messages));
            }
            if policy == InputPolicy::Reject {
                return Err(too_long(tokens));
            }
            // System messages are instructions, not history: they are kept whole, and the rest of
            // the budget goes to the conversation.
            let system: usize = messages
                .iter()
                .zip(&counts)
                .filter(|(m, _)| m.role == Role::System)
                .map(|(_, n)| n)
                .sum();
            let Some(mut budget) = limit_usize.checked_sub(system) else {
                return Err(too_long(tokens));
            };
            let mut keep: Vec<Option<Message>> = vec![None; messages.len()];
            let mut order: Vec<usize> = (0..messages.len()).collect();
            if policy == InputPolicy::TruncateStart {
                order.reverse();
            }
            for &i in &order {
                let message = &messages[i];
                if message.role == Role::System {
                    keep[i] = Some(message.clone());
                    continue;
                }
                if counts[i] <= budget {
                    budget -= counts[i];
                    keep[i] = Some(message.clone());
                    continue;
                }
                let part = match policy {
                    InputPolicy::TruncateStart => {
                        suffix(&message.content, budget, count).trim_start()
                    }
                    _ => prefix(&message.content, budget, count).trim_end(),
                };
                if !part.trim().is_empty() {
                    keep[i] = Some(Message {
                        role: message.role,
                        content: part.to_owned(),
                    });
                }
                // Every message further from the kept end goes, system messages excepted.
                budget = 0;
            }
            let kept: Vec<Message> = keep.into_iter().flatten().collect();
            if kept.iter().all(|m| m.role == Role::System) {
                return Err(too_long(tokens));
            }
            tracing::info!(
                tokens,
                limit,
                "the history was truncated to the token limit"
            );
            Ok(Input::Messages(kept))
        }
    }
}

/// The longest prefix of `text` (cut at a character boundary) of at most `budget` tokens.
fn prefix<'t>(text: &'t str, budget: usize, count: &dyn Fn(&str) -> usize) -> &'t str {
    let cuts = boundaries(text);
    // Binary search over the cut points: a tokenizer's count of a prefix grows with it, nearly
    // always; the answer is only ever a cut that was checked to fit.
    let (mut lo, mut hi) = (0usize, cuts.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if count(&text[..cuts[mid]]) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    &text[..cuts[lo]]
}

/// The longest suffix of `text` of at most `budget` tokens.
fn suffix<'t>(text: &'t str, budget: usize, count: &dyn Fn(&str) -> usize) -> &'t str {
    let cuts = boundaries(text);
    let (mut lo, mut hi) = (0usize, cuts.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if count(&text[cuts[mid]..]) <= budget {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    &text[cuts[lo]..]
}

/// Every character boundary of `text`, `0` and `text.len()` included.
fn boundaries(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect()
}

/// Tokens each message adds around its text in a chat request (role and separators): OpenAI's
/// documented count is 3 or 4; 4 keeps the estimate on the high side.
const PER_MESSAGE: u64 = 4;

/// The prompt tokens of one chat request, estimated before it is sent (the token budget's check):
/// every turn's text and, where the mode sends the schema beside the messages (`json_schema`,
/// `tools`), the schema's JSON, each counted with the client's
/// [`token_counter`](crate::ClientBuilder::token_counter) or else [`estimate`], plus
/// [`PER_MESSAGE`] per turn. An estimate, not the server's count: with [`estimate`] it errs high.
pub(crate) fn prompt_estimate(
    settings: &InputLimit,
    turns: &[Turn],
    schema: Option<&Prepared>,
    mode: Mode,
) -> u64 {
    let count: &dyn Fn(&str) -> usize = match &settings.counter {
        Some(counter) => counter.as_ref(),
        None => &estimate,
    };
    let texts: u64 = turns
        .iter()
        .map(|turn| {
            let text = match turn {
                Turn::System(t) | Turn::User(t) | Turn::Assistant(t) => count(t),
                Turn::ToolCall {
                    name, arguments, ..
                } => count(name) + count(arguments),
                Turn::ToolResult { content, .. } => count(content),
            };
            text as u64 + PER_MESSAGE
        })
        .sum();
    let schema = match (mode, schema) {
        (Mode::JsonSchema | Mode::Tools, Some(schema)) => count(schema.strict_json.get()) as u64,
        _ => 0,
    };
    texts + schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[test]
    fn estimate_by_kind_of_character() {
        assert_eq!(estimate(""), 0);
        assert_eq!(estimate("cat"), 1);
        assert_eq!(estimate("the cat sat"), 3);
        assert_eq!(estimate("extraordinary"), 5);
        assert_eq!(estimate("12345"), 5);
        assert_eq!(estimate("a, b."), 4);
        assert_eq!(estimate("line\nline"), 5);
        assert_eq!(estimate("        x"), 3);
        assert_eq!(estimate("é"), 1);
        assert_eq!(estimate("東京"), 4);
        assert_eq!(estimate("🎉"), 3);
        assert_eq!(estimate("   "), 1);
    }

    #[test]
    fn text_fits_is_rejected_or_is_cut() {
        let text = "one two three four five six seven eight";
        let same = limit_input(text.into(), 8, InputPolicy::Reject, &words);
        assert_eq!(same.ok(), Some(Input::Text(text.into())));
        match limit_input(text.into(), 3, InputPolicy::Reject, &words) {
            Err(TooLong { tokens, limit }) => assert_eq!((tokens, limit), (8, 3)),
            other => panic!("{other:?}"),
        }
        let end = limit_input(text.into(), 3, InputPolicy::TruncateEnd, &words);
        assert_eq!(end.ok(), Some(Input::Text("one two three".into())));
        let start = limit_input(text.into(), 3, InputPolicy::TruncateStart, &words);
        assert_eq!(start.ok(), Some(Input::Text("six seven eight".into())));
        // Nothing left to send is not a truncation but a rejection.
        assert!(matches!(
            limit_input(text.into(), 0, InputPolicy::TruncateEnd, &words),
            Err(TooLong { .. })
        ));
    }

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let text = "日本語のテキストです";
        for budget in 0..estimate(text) {
            for policy in [InputPolicy::TruncateEnd, InputPolicy::TruncateStart] {
                if let Ok(Input::Text(kept)) =
                    limit_input(text.into(), budget as u64, policy, &estimate)
                {
                    assert!(estimate(&kept) <= budget);
                    assert!(text.contains(&kept));
                }
            }
        }
    }

    #[test]
    fn histories_keep_system_messages_and_the_chosen_end() {
        let history = vec![
            Message::system("be brief"),
            Message::user("a b c d"),
            Message::assistant("e f g h"),
            Message::user("i j k l"),
        ];
        let run = |limit, policy| limit_input(history.clone().into(), limit, policy, &words);
        let Ok(Input::Messages(end)) = run(8, InputPolicy::TruncateEnd) else {
            panic!()
        };
        assert_eq!(
            end,
            [
                Message::system("be brief"),
                Message::user("a b c d"),
                Message::assistant("e f")
            ]
        );
        let Ok(Input::Messages(start)) = run(8, InputPolicy::TruncateStart) else {
            panic!()
        };
        assert_eq!(
            start,
            [
                Message::system("be brief"),
                Message::assistant("g h"),
                Message::user("i j k l")
            ]
        );
        assert!(matches!(
            run(8, InputPolicy::Reject),
            Err(TooLong {
                tokens: 14,
                limit: 8
            })
        ));
        // The instructions alone are over the limit: nothing can be cut to fit.
        assert!(matches!(
            run(1, InputPolicy::TruncateStart),
            Err(TooLong { .. })
        ));
    }

    /// The estimate's promise, checked against the exact count on every kind of text it was
    /// measured on.
    #[cfg(feature = "tiktoken")]
    #[test]
    fn estimate_is_never_below_the_openai_tokenizers() {
        let samples = [
            include_str!("../../README.md"),
            include_str!("request.rs"),
            include_str!("dialect/workers_ai.rs"),
            "Die Stadtverwaltung hat am Montag bekanntgegeben, dass die Bauarbeiten an der Brücke über den Fluss bis zum Frühjahr dauern werden.",
            "Le conseil municipal a décidé de prolonger les horaires d'ouverture de la bibliothèque pendant l'été.",
            "Городской совет объявил в понедельник, что ремонт моста через реку продлится до весны.",
            "市政府星期一宣布，河上大桥的施工将持续到明年春天。東京の市役所は月曜日、橋の工事が続くと発表しました。",
            "Great job team 🎉🎉 the launch went well 🚀 — coffee ☕ is on me tomorrow 😀👍 see you at 10:30!",
            "3 141592 65358979 323846 2643383 27950 288419716 939937510 58209 7494459 230781 6406286208",
            "9f86d081884c7d659a2feaa0c55ad015 YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo0123+/ 2cf24dba5fb0a30e26e83b2ac5b9e29e",
            r#"[{"id": 1, "name": "item-1", "price": 12.5, "tags": ["a", "bb"]}, {"id": 2, "ok": false}]"#,
        ];
        for sample in samples {
            let estimated = estimate(sample);
            for exact in [o200k(sample), cl100k(sample)] {
                assert!(
                    estimated >= exact,
                    "estimated {estimated} < exact {exact} for {:?}",
                    &sample[..sample.len().min(60)]
                );
            }
        }
    }
}
