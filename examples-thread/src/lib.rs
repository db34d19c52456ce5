//! Thread examples: `threading.Thread` and friends in Rust. Each example is a binary in
//! `src/bin/`; the README's notes map lists them.
//!
//! The library gives threads CPython's names and bookkeeping ([`Thread`],
//! [`current_thread`], [`active_count`], [`enumerate`]); see the [`thread`] module.
//!
//! # What CPython raises at run time and Rust rejects at compile time
//!
//! CPython's `Thread` object exists before its thread does, so it can be started twice
//! (`RuntimeError: threads can only be started once`) or joined before it was started
//! (`RuntimeError: cannot join thread before it is started`). In Rust the only handle
//! is the one `spawn` returns, for a thread that is already running, and `join` takes
//! it by value. The examples below are compile-fail tests: `cargo test` checks that
//! each one is rejected.
//!
//! Joining twice: the first `join` moved the handle.
//!
//! ```compile_fail,E0382
//! let handle = std::thread::spawn(|| 1);
//! let first = handle.join();
//! let second = handle.join(); // error[E0382]: use of moved value: `handle`
//! ```
//!
//! Sharing a plain mutable variable between threads: CPython allows it (and the GIL
//! hides some of the damage); Rust asks for a `Mutex` or an atomic.
//!
//! ```compile_fail,E0373
//! let mut count = 0;
//! let t = std::thread::spawn(|| count += 1); // error[E0373]: closure may outlive `count`
//! t.join().unwrap();
//! ```
//!
//! Sending a value that is not thread-safe (`Rc` counts references without atomics):
//!
//! ```compile_fail,E0277
//! let shared = std::rc::Rc::new(5);
//! std::thread::spawn(move || println!("{shared}")); // error[E0277]: `Rc<i32>` cannot be sent
//! ```
//!
//! The fixed versions compile and run:
//!
//! ```
//! use std::sync::{Arc, atomic::{AtomicI32, Ordering}};
//!
//! let count = Arc::new(AtomicI32::new(0));
//! let handle = std::thread::spawn({
//!     let count = Arc::clone(&count);
//!     move || count.fetch_add(1, Ordering::SeqCst)
//! });
//! assert_eq!(handle.join().unwrap(), 0);
//! assert_eq!(count.load(Ordering::SeqCst), 1);
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod thread;

pub use thread::{Thread, ThreadInfo, active_count, current_thread, enumerate};
