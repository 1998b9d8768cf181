//! One file per account type. Each stores its canonical bump.
pub mod bid;
pub mod challenge;
pub mod claim;
pub mod config;
pub mod job;
pub mod layout;
pub mod node;
pub mod stake_history;

pub use bid::*;
pub use challenge::*;
pub use claim::*;
pub use config::*;
pub use job::*;
pub use node::*;
pub use stake_history::*;
