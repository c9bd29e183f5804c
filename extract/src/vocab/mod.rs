//! The words every layer shares, at the bottom of the crate: messages and roles, the input, modes,
//! the turns of a conversation, replies and stream deltas, finish reasons, usage, model listings, and
//! the schema limits a provider sets. These modules import nothing else of the crate, so everything
//! else can build on them without a loop.

mod limits;
mod message;
mod mode;
mod models;
mod reply;
mod turn;
mod usage;

pub use limits::{Limit, Target};
pub use message::{Input, Message, Role};
pub use mode::Mode;
pub use models::ModelInfo;
pub(crate) use models::ModelQuery;
pub use reply::FinishReason;
pub(crate) use reply::{Delta, Framing, Reply};
pub(crate) use turn::Turn;
pub use usage::Usage;
