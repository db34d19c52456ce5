//! A handle for child processes shaped like CPython's `multiprocessing.Process`,
//! which every example crate uses to start children, with CPython's three start
//! methods: fork (the default), spawn and forkserver ([`StartMethod`]).
//!
//! | CPython                                  | here                                   |
//! |------------------------------------------|----------------------------------------|
//! | `Process(target=f, name="w")`            | `Process::new(f).with_name("w")`       |
//! | subclass `Process`, override `run`       | `impl Run for T`, `Process::from_run(t)` |
//! | `p.daemon = True`                        | `.with_daemon(true)` (before `start`)  |
//! | `p.start()` / `p.join()` / `p.join(t)`   | `start()?` / `join()?` / `join_timeout(t)?` |
//! | `p.is_alive()` / `p.exitcode` / `p.pid`  | `is_alive()` / `exitcode()` / `pid()`  |
//! | `p.terminate()` / `p.kill()`             | `terminate()?` / `kill()?`             |
//! | `current_process()` / `active_children()`| [`current_process`] / [`active_children`] |
//! | `parent_process()`                       | [`parent_process`]                     |
//! | `p.sentinel`, `p.close()`                | `sentinel()`, `close()?`               |
//! | `p.daemon = True` after `start()`: error | `set_daemon(true)` → `Err`             |
//! | `Process(target=f, args=(a,))`           | `Process::call(f, a)` (a named function, serde arguments) |
//! | `get_context("spawn").Process(...)`      | `.with_start_method(StartMethod::Spawn)` |
//! | `if __name__ == "__main__":`             | [`main_guard`]`()` first in `main`     |
//!
//! ## What this library promises
//!
//! These hold for every start method, and the tests of `tests/lib_process*.rs` and
//! `tests/chaos.rs` check each. The other libraries of the workspace build on them.
//!
//! **Safe code cannot cause undefined behaviour.**
//! - A fork target is `Send`, as a thread's is: what may not cross threads (a lock
//!   guard) may not cross `fork`.
//! - `start` refuses to fork while the process runs more than one thread (a lock held
//!   by another thread would stay locked for ever in the child); spawn and forkserver
//!   work from any thread.
//! - Memory shared with children holds only [`ProcessShared`](shared::ProcessShared)
//!   values (no pointer, no private handle, valid as zero bytes, aligned within a page).
//! - A target crosses `exec` as a record the compiler made in this executable
//!   ([`named`]), found only at a marked place inside the executable's own segments:
//!   never an address to jump to, so a foreign or corrupted one is refused.
//!
//! **A failure never turns into a wait.**
//! - A handle dropped while its thread panics, or after the program made a [`Failure`]
//!   (an error on its way out of `main`), terminates its child (SIGTERM, then SIGKILL
//!   after a second) instead of waiting: the child may be waiting for something the
//!   failing code held. Otherwise dropping a handle does what CPython does at exit: a
//!   daemon is terminated, a non-daemon child waited for; either way it is reaped.
//! - No child outlives its parent: if the parent dies without dropping the handle, the
//!   kernel sends the child SIGKILL (`PR_SET_PDEATHSIG`; a fork server watches its
//!   parent through a pidfd). See [`die_with_parent`] for `std::process::Command`.
//! - A fork server that was killed is replaced on the next start; a signal during
//!   `start` neither fails it nor leaves a child without a handle; every wait on the
//!   way has a bound.
//! - See [`exit_on_stdout_failure`] for what happens when printing fails.
//!
//! **Nothing is handed to the wrong process.**
//! - Until a child is reaped its pid cannot be reused, so `terminate` never reaches an
//!   unrelated process. A handle moved into another child keeps its process unreaped
//!   while that child lives, for the same reason.
//! - A handle keeps no file descriptor (but a forkserver child's pidfd and status
//!   socket, close-on-exec), so a forked child inherits none from its older siblings;
//!   a spawned child inherits only the descriptors passed with [`Process::pass_fd`].
//! - [`main_guard`] follows the environment only to a descriptor of the kind this
//!   library hands over, and never in a set-user-ID or privileged program.
//!
//! How a child is made: with fork, `start` flushes standard output and error, forks,
//! and the child runs the target and leaves with `_exit` (never returning into the
//! parent's `main`, never running its destructors), with exit code 0, or 1 if the
//! target panicked (CPython: 1 if `run` raised), or `-N` if killed by signal N. Values
//! moved into the target belong to the child: the parent drops its copy in `start`,
//! before the child may run, and [`moving_to_child`] tells their `Drop`. With spawn,
//! this program runs again (`/proc/self/exe`) and [`main_guard`] runs the target; with
//! forkserver, a single-threaded server forks it. Both take a target made with
//! [`Process::call`]: a named function and serde arguments, which can cross `exec`.
//!
//! ```
//! use examples_process::Process;
//!
//! let mut p = Process::new(|| println!("hello from the child"));
//! assert!(!p.is_alive()); // not started yet
//! p.start()?;
//! assert_eq!(p.join()?, 0);
//! assert_eq!(p.exitcode(), Some(0));
//! assert!(!p.is_alive());
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod args;
mod command;
mod handover;
mod output;
mod process;
pub mod reduction;
pub mod shared;
mod signals;
mod start;
pub mod svg;
pub mod timeline;

pub use args::no_arguments;
pub use command::{die_with_parent, run_self};
pub use handover::{current_pid, moving_to_child};
pub use output::{Failure, end_as_stdout_closed, exit_on_stdout_failure, panic_message};
pub use process::{
    Process, ProcessInfo, Run, active_children, current_process, parent_process, passed_fds,
};
pub use signals::DeferTermination;
pub use start::{StartMethod, ensure_forkserver, main_guard, named, stop_forkserver};

use std::time::{Duration, Instant};

/// A random duration in `[low, high]`, for the notes' `time.sleep(random...)` steps.
/// Seeded per process, so two forked siblings do not draw the same numbers.
pub fn random_duration(low: Duration, high: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let seed = (current_pid(), Instant::now(), std::time::SystemTime::now());
    let bits = RandomState::new().hash_one(seed);
    let span = high.saturating_sub(low).as_nanos() as u64;
    low + Duration::from_nanos(bits % span.saturating_add(1))
}
