//! Note 000 "线程同步" (a heading with no body) and note 004's paragraph on it: threads
//! made to run in an agreed order. By `join`, by taking turns, and at a barrier.
//!
//! | CPython                                      | Rust (std)                               |
//! |----------------------------------------------|------------------------------------------|
//! | `t.start(); t.join()`, then read its result  | `let v = s.spawn(f).join().unwrap();`    |
//! | `Condition` and a turn number                | `Mutex<Turns>` and `Condvar`             |
//! | `b = threading.Barrier(3); b.wait()`         | `let b = Barrier::new(3); b.wait();`     |
//!
//! Run: `cargo run -p examples-locks --bin thread_sync`
//!
//! ```text
//! join: read 42 after the thread ended
//! turns: ABCABCABC
//! barrier: arrive 0, arrive 1, arrive 2, leave 2, leave 1, leave 0   <- leave order varies
//! ```
//!
//! Where Rust differs: `Barrier::wait` tells one thread it is the leader, where
//! CPython's gives each its arrival index. std has no semaphore or event: CPython's
//! `Semaphore`, `BoundedSemaphore` and `Event` are in this repository's
//! `examples_ipc::sync` (between threads and processes; `process_sync` shows them).
//! Lines are printed by `main` once the threads end, so that a thread that cannot
//! print leaves nobody waiting at the barrier or for its turn.
//!
//! Copy it: `cargo new thread_sync`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::sync::{Barrier, Condvar, Mutex};
use std::thread::{self, sleep};
use std::time::Duration;

/// Whose turn it is, and what the turns wrote.
struct Turns {
    next: usize,
    written: String,
}

fn main() {
    init();
    // Note 004: "you finish, then I speak": what a thread wrote is read after its join.
    let answer = thread::scope(|s| s.spawn(|| 6 * 7).join().expect("the thread"));
    println!("join: read {answer} after the thread ended");

    // Three threads, started C, B, A, write their letter in turn A, B, C, three times.
    let (turns, changed) = (Mutex::new(Turns { next: 0, written: String::new() }), Condvar::new());
    thread::scope(|s| {
        for (me, letter) in [(2, 'C'), (1, 'B'), (0, 'A')] {
            let (turns, changed) = (&turns, &changed);
            s.spawn(move || {
                for _ in 0..3 {
                    let turns = turns.lock().unwrap(); // `unwrap`: a holder panicked
                    let mut turns = changed.wait_while(turns, |t| t.next != me).unwrap();
                    turns.written.push(letter);
                    turns.next = (me + 1) % 3;
                    changed.notify_all();
                }
            });
        }
    });
    let written = turns.into_inner().unwrap().written;
    println!("turns: {written}");

    // A barrier: three threads arrive 0.1 s apart; none leaves before the last arrives.
    let (barrier, log) = (Barrier::new(3), Mutex::new(Vec::new()));
    thread::scope(|s| {
        for i in 0..3 {
            let (barrier, log) = (&barrier, &log);
            s.spawn(move || {
                sleep(Duration::from_millis(100 * i));
                log.lock().unwrap().push(format!("arrive {i}"));
                barrier.wait();
                log.lock().unwrap().push(format!("leave {i}"));
            });
        }
    });
    let log = log.into_inner().unwrap();
    println!("barrier: {}", log.join(", "));
    assert_eq!((answer, written.as_str()), (42, "ABCABCABC"));
    assert!(log[..3].iter().all(|l| l.starts_with("arrive")), "left before all arrived");
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
