//! History: what the host remembers about past actions, and the facts
//! policies read from it (the `history` import of `gavel:policy@0.3.0`).

mod activity;
mod fact;
mod rebuild;
mod session;
mod shared;

pub use activity::{Activity, ApprovedAction, HistoryRecord, HistoryView, MAX_ACTIVITY, Subject};
pub use fact::{Fact, MAX_FACT_WINDOW_MS, MAX_FACTS_PER_RUN, Scope, Tally};
pub use session::{FactSession, FactSource};
pub use shared::SharedActivity;
