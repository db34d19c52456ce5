//! Races, locks and synchronisation examples: `Lock`, `RLock`, `Condition`, barriers,
//! turns and producer-consumer queues. Each example is a binary in `src/bin/` that
//! depends on std or crates.io alone; the README's notes map lists them.
//!
//! # The note's racy global does not compile as Rust
//!
//! `g_num += 1` on a `static mut` is rejected: it may race, so it needs `unsafe`
//! (error E0133), and the compiler leaves the proof that no other thread touches it
//! to you. This is a compile-fail test; `cargo test` checks that it is rejected.
//!
//! ```compile_fail,E0133
//! static mut G_NUM: u64 = 0;
//!
//! fn sum_num() {
//!     for _ in 0..1_000_000 {
//!         G_NUM += 1; // error[E0133]: use of mutable static is unsafe
//!     }
//! }
//! # std::thread::spawn(sum_num).join().unwrap();
//! ```
//!
//! The safe versions are an atomic (`race`) or a value owned by a `Mutex`
//! (`mutex_counter`):
//!
//! ```
//! use std::sync::Mutex;
//!
//! static G_NUM: Mutex<u64> = Mutex::new(0);
//!
//! fn sum_num() {
//!     for _ in 0..1_000 {
//!         *G_NUM.lock().unwrap() += 1; // the lock is released at the end of the statement
//!     }
//! }
//! let threads = [std::thread::spawn(sum_num), std::thread::spawn(sum_num)];
//! threads.into_iter().for_each(|t| t.join().unwrap());
//! assert_eq!(*G_NUM.lock().unwrap(), 2_000);
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
