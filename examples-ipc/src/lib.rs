//! Inter-process communication: `Queue`, `Pipe`, `Manager` and shared `Value`, for a
//! parent and the children it starts with `examples_process::Process`. Each example
//! is a binary in `src/bin/`; the README's notes map lists them.
//!
//! - [`connection`]: `Pipe()` — a socketpair carrying length-prefixed serde messages.
//! - [`manager`]: `Manager()` — a server process owning a dict, a list and a lock,
//!   reached through proxies.
//! - [`queue`]: `Queue(maxsize)` — messages through a ring of bytes in shared memory,
//!   which counts the items in it.
//! - [`ring`]: a bounded single-producer single-consumer queue in shared memory, for
//!   plain values, much faster than either (no CPython counterpart).
//! - [`shared`]: anonymous shared memory, what may live in it ([`shared::ProcessShared`]),
//!   process-shared semaphores, and a robust process-shared lock that owns its value.
//! - [`sync`]: `RLock`, `Condition`, `Event` and `Value` for processes (and threads).

#![warn(missing_docs)]

mod bytes;
pub mod connection;
pub mod manager;
pub mod queue;
pub mod ring;
pub mod shared;
pub mod sync;
mod wait;

/// Declares a struct that may live in shared memory (see [`shared::ProcessShared`]).
pub use examples_process::process_shared;
