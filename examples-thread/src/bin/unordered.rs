//! Note 004 "线程" points 1 and 2: threads run in no fixed order, the scheduler decides;
//! and the main thread waits for them (in Rust, when it joins them).
//!
//! | CPython                                                   | Rust (std)                   |
//! |-----------------------------------------------------------|------------------------------|
//! | `for i in range(5): Thread(target=task, args=(i,)).start()` | `for i in 0..5 { s.spawn(move \|\| task(i)); }` |
//! | the interpreter waits for its threads at exit             | `thread::scope` joins them   |
//!
//! Run: `cargo run -p examples-thread --bin unordered`
//!
//! ```text
//! thread 1: running       <- the order varies from run to run
//! thread 0: running
//! thread 2: running
//! thread 3: running
//! thread 4: running
//! main: started 0 to 4 in order; 100 more rounds gave 19 different orders   <- varies
//! ```
//!
//! Where Rust differs: nothing in the ordering, which is the operating system's. A
//! `println!` writes its whole line under stdout's lock: lines never mix.
//!
//! Copy it: `cargo new unordered`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::collections::HashSet;
use std::sync::Mutex;
use std::thread;

/// Starts five threads in order 0 to 4 and returns the order in which they ran.
fn round(print: bool) -> Vec<u32> {
    let ran = Mutex::new(Vec::new());
    thread::scope(|s| {
        for i in 0..5 {
            let ran = &ran;
            s.spawn(move || {
                let mut ran = ran.lock().unwrap(); // `unwrap`: a holder panicked
                ran.push(i);
                if print {
                    println!("thread {i}: running"); // under the lock: in the order recorded
                }
            });
        }
    }); // the scope waits for all five, as CPython's main thread does
    ran.into_inner().unwrap()
}

fn main() {
    init();
    let first = round(true);
    let orders: HashSet<Vec<u32>> = (0..100).map(|_| round(false)).collect();
    println!(
        "main: started 0 to 4 in order; 100 more rounds gave {} different orders",
        orders.len()
    );
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2, 3, 4], "every thread ran once");
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
