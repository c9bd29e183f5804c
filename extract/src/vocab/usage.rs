//! Token accounting, summed over every attempt of an extraction.

use std::ops::AddAssign;

/// Tokens a provider billed, as it reported them. Fields a provider did not report stay zero or `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the requests (instructions, input, schema, reask context).
    pub prompt_tokens: u64,
    /// Tokens the model generated.
    pub completion_tokens: u64,
    /// The provider's total, or the sum of the two when it gave none.
    pub total_tokens: u64,
    /// Prompt tokens served from the provider's prompt cache (OpenAI's `cached_tokens`).
    pub cached_tokens: Option<u64>,
    /// Completion tokens spent on hidden reasoning (OpenAI's `reasoning_tokens`).
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    pub(crate) fn new(prompt: u64, completion: u64, total: Option<u64>) -> Self {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: total.unwrap_or(prompt.saturating_add(completion)),
            cached_tokens: None,
            reasoning_tokens: None,
        }
    }
}

impl AddAssign for Usage {
    fn add_assign(&mut self, rhs: Usage) {
        fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
            match (a, b) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
            }
        }
        // A server's counts can be anything up to `u64::MAX`: they saturate rather than overflow.
        self.prompt_tokens = self.prompt_tokens.saturating_add(rhs.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(rhs.completion_tokens);
        self.total_tokens = self.total_tokens.saturating_add(rhs.total_tokens);
        self.cached_tokens = add(self.cached_tokens, rhs.cached_tokens);
        self.reasoning_tokens = add(self.reasoning_tokens, rhs.reasoning_tokens);
    }
}

impl Usage {
    /// Two reports of one reply's usage as one: each count the larger, since a provider that
    /// reports in several stream events (Anthropic) sends cumulative counts and may leave out those
    /// an earlier event gave.
    pub(crate) fn latest(self, later: Usage) -> Usage {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        let prompt = self.prompt_tokens.max(later.prompt_tokens);
        let completion = self.completion_tokens.max(later.completion_tokens);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total_tokens
                .max(later.total_tokens)
                .max(prompt.saturating_add(completion)),
            cached_tokens: max(self.cached_tokens, later.cached_tokens),
            reasoning_tokens: max(self.reasoning_tokens, later.reasoning_tokens),
        }
    }
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(mut self, rhs: Usage) -> Usage {
        self += rhs;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `sse` fuzz target: a stream's usage with `prompt_tokens` near `u64::MAX` and no
    /// total overflowed when the total was computed.
    #[test]
    fn counts_a_server_sends_saturate_rather_than_overflow() {
        let huge = Usage::new(u64::MAX - 1, 12, None);
        assert_eq!(huge.total_tokens, u64::MAX);
        let mut sum = huge;
        sum += Usage::new(5, 5, Some(u64::MAX));
        assert_eq!(sum.prompt_tokens, u64::MAX);
        assert_eq!(sum.total_tokens, u64::MAX);
    }
}
