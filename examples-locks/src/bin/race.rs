//! Note 004 "全局变量数据错误": two threads add 1,000,000 each to one global; joining
//! the first before starting the second gives exact totals, running them at once loses
//! updates.
//!
//! | CPython                                        | Rust                                      |
//! |------------------------------------------------|-------------------------------------------|
//! | `global g_num; g_num += 1`                     | `G_NUM.store(G_NUM.load(..) + 1, ..)`     |
//! | `first.start(); first.join(); second.start()`  | `spawn(sum_num1).join()`, then `sum_num2` |
//!
//! Run: `cargo run -p examples-locks --bin race`
//!
//! ```text
//! sum1: 1000000
//! sum2: 2000000
//! racing: sum1: 1011265            <- each racing thread's last view: varies
//! racing: sum2: 1050897
//! racing: g_num=1050897 of 2000000, 949103 updates lost   <- varies, may be 0
//! ```
//!
//! Where Rust differs: `static mut` written by two threads is a data race, undefined
//! behaviour, and needs `unsafe` (this crate's docs show it refused). A safe program's
//! race is the one here: the read and the write are two atomic steps with a gap.
//! `fetch_add` makes them one. CPython 3.10+ switches threads only at jumps and calls,
//! so the note's loop seldom loses an update there; the race is the same.
//!
//! Copy it: `cargo new race`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::thread;

static G_NUM: AtomicU64 = AtomicU64::new(0);

fn sum_num(name: &str, start: &Barrier) {
    start.wait(); // both threads leave here together (the note's runs have no gate)
    for _ in 0..1_000_000 {
        // `g_num += 1` in two steps; `black_box` keeps a release build from fusing them.
        let value = black_box(G_NUM.load(Relaxed));
        G_NUM.store(value + 1, Relaxed); // another thread's store may fall in between
    }
    println!("{name}: {}", G_NUM.load(Relaxed));
}

fn main() {
    init();
    // The note's program: the first thread ends before the second starts.
    let alone = Barrier::new(1);
    thread::scope(|s| s.spawn(|| sum_num("sum1", &alone)).join().expect("sum1"));
    thread::scope(|s| s.spawn(|| sum_num("sum2", &alone)).join().expect("sum2"));
    assert_eq!(G_NUM.load(Relaxed), 2_000_000);

    // What the example adds: the data error itself, both threads at once.
    G_NUM.store(0, Relaxed);
    let together = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| sum_num("racing: sum1", &together));
        s.spawn(|| sum_num("racing: sum2", &together));
    });
    let total = G_NUM.load(Relaxed);
    println!("racing: g_num={total} of 2000000, {} updates lost", 2_000_000 - total);
    assert!(total <= 2_000_000, "a lost update loses; it never adds");
}

/// Refuses arguments (a usage error, exit code 2), and makes a panic in any thread end
/// the program at once (exit code 101), so that no thread waits for one that failed.
fn init() {
    if let Some(arg) = std::env::args_os().nth(1) {
        eprintln!("{}: unexpected argument {arg:?}", env!("CARGO_BIN_NAME"));
        std::process::exit(2);
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        std::process::exit(101);
    }));
}
