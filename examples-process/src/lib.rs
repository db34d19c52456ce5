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
//! How a child is made and ended:
//!
//! - With fork, `start` flushes stdout and stderr, then `fork`s. The child runs the target and
//!   leaves with `_exit`, so it never returns into the parent's `main` and never runs
//!   the parent's destructors. Its exit code is 0, or 1 if the target panicked
//!   (CPython: 1 if `run` raised). A target may also end the child early with
//!   `std::process::exit(n)`, as `sys.exit(n)` does.
//! - Values moved into the target belong to the child: the parent drops its copy in
//!   `start` (so, say, the parent's copy of a pipe end is closed), before the child may
//!   run, and [`moving_to_child`] tells their `Drop` that they were handed over.
//! - `start` refuses to fork while the calling process runs more than one thread: a
//!   lock held by another thread at that instant (stdout's, the allocator's) would stay
//!   locked for ever in the child. Join threads first, or use spawn or forkserver.
//! - With spawn, `start` runs this program again (`/proc/self/exe`); [`main_guard`],
//!   the first call in `main`, makes that process run the target and exit. With
//!   forkserver, a single-threaded server, spawned on first use, forks the child. Both
//!   work from a program that runs threads, and both take a target made with
//!   [`Process::call`]: a `fn` and serde arguments, which can cross `exec` where a
//!   closure cannot. Descriptors reach such a child with [`Process::pass_fd`].
//! - A child killed by signal N has exit code `-N`, as in CPython.
//! - Dropping a started handle does what CPython does for it at interpreter exit: a
//!   daemon child is terminated, a non-daemon child is waited for. Either way it is
//!   reaped: no zombie is left.
//! - **A failure never turns into a wait.** A handle dropped while its thread panics
//!   terminates its child (SIGTERM, then SIGKILL after a second) instead of waiting:
//!   the child may be waiting for something the failing code held. Declare the
//!   channel ends and locks a child waits on *after* its handle, so that an early
//!   return drops them first (locals drop in reverse order), and see
//!   [`exit_on_stdout_failure`] for what happens when printing fails.
//! - No child outlives its parent: if the parent dies without dropping the handle (a
//!   signal, `std::process::exit`), the kernel sends the child SIGKILL
//!   (`prctl(PR_SET_PDEATHSIG)`; a fork server watches its parent through a pidfd and
//!   its children die with it). CPython leaves such children running as orphans; here
//!   Ctrl-C, `kill` or a crash of the parent ends the whole tree. See [`die_with_parent`]
//!   for children started with `std::process::Command`.
//! - A handle keeps no file descriptor (but for a forkserver child: its pidfd and the
//!   socket its exit code comes on, both close-on-exec), so a forked child inherits
//!   none from its older siblings. Until a child is reaped its pid cannot be reused, so `terminate` can
//!   never hit an unrelated process; `join_timeout` sleeps in the kernel on a pidfd
//!   opened for that wait.
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

mod command;
mod handover;
mod output;
mod process;
pub mod reduction;
pub mod shared;
mod signals;
mod start;
pub mod timeline;

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
