//! Graph export: the state machine and the grammar of a checked spec as
//! Graphviz DOT text.
//!
//! Each export first builds a petgraph graph whose weights are DOT nodes and
//! edges ([`dot`]), then serializes it. Both are pure functions of the IR and
//! deterministic: the same spec always gives the same text, which `dot`
//! accepts without warnings.

mod dot;
mod grammar;
mod states;

pub use grammar::grammar_dot;
pub use states::states_dot;
