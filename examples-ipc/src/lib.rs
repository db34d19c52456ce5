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
//! - [`shared`]: anonymous shared memory and what may live in it ([`shared::ProcessShared`]).
//! - [`sync`]: `Lock`, `RLock`, `Semaphore`, `Condition`, `Event` and `Value` for
//!   processes (and threads), one file each.

//! ## What this library promises
//!
//! On top of `examples_process`'s promises (which these build on), checked by
//! `tests/lib_ipc.rs`, `tests/chaos.rs` and the fuzz tests of each reader:
//!
//! - **Sound by construction.** Shared memory holds only `ProcessShared` values; the
//!   pthread-based locks and semaphores are made in place by their own constructors, so
//!   safe code cannot make a zeroed (process-private) one; guards are not `Send`.
//! - **A death is an error, never a wait.** A lock whose holder died is taken with
//!   [`holder_died`](sync::Guard::holder_died); a `Condition` waiter killed while
//!   asleep takes no notification; a `Queue` stays whole when a putter or getter dies
//!   anywhere (an item is lost only with the getter that was taking it, and its putter
//!   is told), and `JoinableQueue::join` names a consumer that died; the manager releases
//!   what a dead client held. Every timeout bounds every wait of its call.
//! - **No reader trusts the bytes it reads.** A `Connection` refuses a length over
//!   [`MAX_MESSAGE`](connection::MAX_MESSAGE) before allocating it and closes every
//!   descriptor nobody asked for; the queue's ring checks its positions and headers and
//!   reports a corrupted ring as broken; the manager's server refuses a bad request to
//!   its sender alone, and no client, stopped or hostile, stalls the others.
//! - **Nobody else gets in.** Nothing listens: pipes, the manager's door and the fork
//!   server's socket are unnamed socket pairs; shared memory is anonymous.

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

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
