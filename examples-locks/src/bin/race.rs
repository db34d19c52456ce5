//! Two threads adding to one global: lost updates, and two ways to avoid them.
//!
//! Mirrors note 004 "全局变量数据错误" and point 4 of "线程": shared globals go wrong when
//! two threads update them at once; the note's fix is to join the first thread before
//! starting the second.
//!
//! | CPython                                    | Rust                                          |
//! |--------------------------------------------|-----------------------------------------------|
//! | `global g_num; g_num += 1` in two threads  | `let v = G_NUM.load(..); G_NUM.store(v + 1, ..)` (the race, spelled out) |
//! | `first.start(); first.join(); second.start()` | `spawn(..).join()` then `spawn(..).join()` |
//! | (no single-step add in Python)             | `G_NUM.fetch_add(1, ..)`: one indivisible step |
//!
//! Run: `cargo run -p examples-locks --bin race`
//!
//! Output: the racy run's total and how many updates were lost (reported, never
//! checked: it varies from run to run and can be 0); then the joined runs, which print
//! exactly "sum1: 1000000" and "sum2: 2000000"; then `fetch_add`, exactly 2000000.
//!
//! Where Rust differs: the note's code does not compile as Rust. A `static mut` that two
//! threads change is a data race, undefined behaviour, so touching it needs `unsafe`
//! (see this crate's documentation for the compile-fail test). The race a safe program
//! *can* have is the one shown here: each step is atomic, but the read and the write
//! are two steps, and another thread's write can fall between them. CPython 3.10 and
//! later rarely lose an update in the note's loop, because the interpreter switches
//! threads only at backward jumps and calls, not between the read and the write of
//! `g_num += 1`; the race is still there, a different loop body shows it.
//!
//! Copy it: `cargo new race`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;

const N: u64 = 1_000_000;
static G_NUM: AtomicU64 = AtomicU64::new(0);

fn main() {
    examples_process::exit_on_stdout_failure();
    // 1. The race: two threads at once, each reading then writing.
    G_NUM.store(0, Relaxed);
    let total = together(add_read_then_write);
    println!("racy: g_num={total} of {}; lost updates={}", 2 * N, 2 * N - total);

    // 2. The note's fix: the second thread starts after the first has finished.
    G_NUM.store(0, Relaxed);
    let sum1 = join(thread::spawn(add_read_then_write));
    println!("sum1: {sum1}");
    let sum2 = join(thread::spawn(add_read_then_write));
    println!("sum2: {sum2}");

    // 3. The add as one indivisible step: the threads may run together again.
    G_NUM.store(0, Relaxed);
    let atomic_total = together(add_atomically);
    println!("fetch_add: g_num={atomic_total}");

    assert!(total <= 2 * N, "a lost update loses; it never adds");
    assert_eq!((sum1, sum2), (N, 2 * N));
    assert_eq!(atomic_total, 2 * N);
    println!("main: ok, joined and atomic totals are exact");
}

/// `g_num += 1` as two steps. Each is atomic; the pair is not.
fn add_read_then_write() -> u64 {
    for _ in 0..N {
        // `black_box` keeps these two steps apart. Without it a release build fuses them
        // into one `inc` instruction: still a race (no `lock` prefix), but one so
        // narrow that it seldom shows.
        let value = black_box(G_NUM.load(Relaxed));
        // Another thread may store here; our store below then overwrites its update.
        G_NUM.store(value + 1, Relaxed);
    }
    G_NUM.load(Relaxed)
}

fn add_atomically() -> u64 {
    for _ in 0..N {
        G_NUM.fetch_add(1, Relaxed);
    }
    G_NUM.load(Relaxed)
}

/// Runs `add` on two threads that start at the same moment, and returns `G_NUM` after
/// both. Without the start gate the first thread can finish its loop (about two
/// milliseconds in a release build) before the second is even running, and nothing
/// races. The gate spins rather than sleeps, so both threads are on a CPU when it opens.
fn together(add: fn() -> u64) -> u64 {
    let arrived = AtomicU64::new(0);
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                arrived.fetch_add(1, Relaxed);
                while arrived.load(Relaxed) < 2 {
                    std::hint::spin_loop();
                }
                add()
            });
        }
    });
    G_NUM.load(Relaxed)
}

fn join<T>(handle: thread::JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
