//! Provider health: the breaker (pure), the probes (I/O), and the loop that drives them.

pub mod breaker;
pub mod incidents;
pub mod monitor;
pub mod probe;
pub mod prober;
pub mod recorder;
pub mod tally;
pub mod view;
