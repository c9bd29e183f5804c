//! What one call (an extraction, a completion, or a stream of either) keeps while it runs: the HTTP
//! requests it sent, which one limit bounds; an input its policy refused, which every request it
//! builds then fails with before sending; and the replies it received, staged for the response cache
//! until it succeeds. Run state, kept apart from the settings in [`Options`](crate::options::Options),
//! which stay as the caller wrote them.

use crate::options::Options;
use crate::tokens::InputLimit;
use crate::vocab::Input;

/// The state of one call, shared by all its requests.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// The HTTP requests sent so far.
    pub(crate) requests: crate::transport::Requests,
    /// Set when the input is over the limit and the policy rejects it.
    pub(crate) refused: Option<crate::tokens::TooLong>,
    /// Replies received, stored in the response cache once the call succeeds.
    #[cfg(feature = "cache")]
    pub(crate) staged: crate::cache::Staged,
}

impl Ledger {
    /// A new call's ledger, and its input held to the input limit (the request's, else the
    /// client's): counted before anything is sent, and truncated as the policy says, or kept and
    /// refused by every request the call builds.
    pub(crate) fn start(limits: &InputLimit, options: &Options, input: Input) -> (Ledger, Input) {
        let mut ledger = Ledger::default();
        let input = match crate::tokens::apply_limit(limits, options, &input) {
            Ok(Some(limited)) => limited,
            Ok(None) => input,
            Err(refused) => {
                ledger.refused = Some(refused);
                input
            }
        };
        (ledger, input)
    }

    /// The call succeeded: its staged replies may answer the same request again.
    pub(crate) fn commit(&self) {
        #[cfg(feature = "cache")]
        self.staged.commit();
    }
}
