//! A process pool shaped like CPython's `multiprocessing.Pool` (fork start method),
//! used by the examples in `src/bin/`; the README's notes map lists them. The
//! [`workloads`] of the GIL-style comparison live here too, shared by `gil_compare`
//! and `side_by_side`.
//!
//! | CPython                                   | here                                        |
//! |-------------------------------------------|---------------------------------------------|
//! | `pool = Pool(3)`                          | `let pool = Pool::new(3)?;`                 |
//! | `get_context("spawn").Pool(3)`            | `Pool::with_start_method(3, StartMethod::Spawn)?` |
//! | `pool.apply(f, (x,))`                     | `pool.apply(f, x)?`                         |
//! | `r = pool.apply_async(f, (x,))`           | `let r = pool.apply_async(f, x)?;`          |
//! | `r.get()`, `r.get(timeout)`, `r.ready()`  | `r.get()?`, `r.get_timeout(t)`, `r.ready()?` |
//! | `pool.map(f, items)`, `map(f, items, n)`  | `pool.map(f, items)?`, `map_chunked(f, items, n)?` |
//! | `pool.map_async(f, items)`                | `pool.map_async(f, items)?` → `AsyncResult<Vec<R>>` |
//! | `pool.starmap(f, [(a, b), …])`, `starmap_async` | `pool.starmap(f, pairs)?`, `starmap_async(f, pairs)?` |
//! | `pool.imap(f, items)`, `imap_unordered(f, items)` | `pool.imap(f, items, 1)?`, `imap_unordered(f, items, 1)?` (iterators) |
//! | `apply_async(..., callback=c, error_callback=e)` | `apply_async(..)?.callback(c).error_callback(e)` |
//! | `pool.terminate()`                        | `pool.terminate()` (dropping it does the same) |
//! | `pool.close(); pool.join()`               | `pool.close().join()?`                      |
//! | `with Pool(3) as pool:` (exit terminates) | a block: dropping a `Pool` terminates it    |
//!
//! How it works. `Pool::new` starts the workers with fork (or the
//! [`StartMethod`](examples_process::StartMethod) given to [`Pool::with_start_method`]),
//! so they run this same program: a task names its function by a record the compiler
//! makes in the executable ([`examples_process::named`]), as CPython names it by module
//! and name. Arguments and results cross as serde messages over one duplex
//! [`Connection`](examples_ipc::connection::Connection) per worker. The layout:
//! `pool/mod.rs` the API, `pool/wire.rs` what travels, `pool/worker.rs` the worker's
//! loop, `pool/scheduler.rs` the parent's state, `pool/result.rs` results that come
//! later.
//!
//! Tasks are handed out as soon as they are submitted: each worker gets a queue of
//! them in its connection (up to [`IN_FLIGHT`] tasks, and a few tens of KiB, each),
//! runs them in order and writes each result back (a map's results a batch at a time:
//! they are wanted together), so the pool progresses while the parent does something
//! else, as CPython's does with its handler threads. Results
//! wait in the connection until a pool call (`get`, `ready`, `join`, …) reads them;
//! so does any task beyond those limits. The pool has no thread of its own, which
//! keeps the parent single-threaded and able to fork.
//!
//! Differences from CPython, on purpose:
//! - Joining an open pool is impossible: `join` exists only on the [`ClosedPool`] that
//!   `close` returns (CPython: `ValueError: Pool is still running`).
//! - A worker that dies in the middle of a task (a crash, a signal) fails that task with
//!   [`PoolError::WorkerDied`] and is replaced; CPython's `Pool` waits for ever. A worker
//!   that sends something that is no answer to its task is killed, and the task fails
//!   with [`PoolError::BadWorker`].
//! - A result nobody can ask for any more (its [`AsyncResult`] or [`Imap`] was dropped)
//!   is dropped when it comes, after its callbacks; CPython keeps it in its cache until
//!   the pool ends.
//! - A task that panics fails with [`PoolError::Panicked`] (CPython re-raises the
//!   exception in `get`), and the worker goes on.
//!
//! ```
//! use examples_pool::Pool;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let pool = Pool::new(2)?;
//! let pending = pool.apply_async(square, 3)?;
//! let _ = pending.ready()?; // never waits: whether the result is there yet
//! assert_eq!(pending.get()?, 9); // waits for it
//! assert_eq!(pool.apply(square, 7)?, 49);
//! assert_eq!(pool.map(square, 0..5)?, [0, 1, 4, 9, 16]);
//! pool.close().join()?;
//! # Ok::<(), examples_pool::PoolError>(())
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod pool;
pub mod workloads;

pub use pool::{AsyncResult, ClosedPool, IN_FLIGHT, Imap, Pool, PoolError};
