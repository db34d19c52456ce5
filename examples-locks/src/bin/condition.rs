//! Note 003 "线程锁机制", its `Condition`: a thread `wait`s, or `wait_for`s a predicate,
//! until another changes the state and `notify`s.
//!
//! | CPython                                    | Rust (std)                                   |
//! |--------------------------------------------|----------------------------------------------|
//! | `cond = threading.Condition()`             | `Mutex<State>` and `Condvar`                 |
//! | `with cond: cond.wait_for(pred)`           | `cond.wait_while(guard, \|s\| !pred(s))`     |
//! | `cond.wait_for(pred, timeout)` → bool      | `wait_timeout_while(..)`: `.1.timed_out()`   |
//! | `cond.notify()` / `cond.notify_all()`      | `cond.notify_one()` / `cond.notify_all()`    |
//!
//! Run: `cargo run -p examples-locks --bin condition`
//!
//! ```text
//! produce 0, consume 0, produce 1, consume 1, produce 2, consume 2
//! wait_for(pred, 0.1) with nobody notifying: false
//! notify_all(): 3 of 3 waiters went on
//! ```
//!
//! Where Rust differs: `wait` takes the guard, so waiting without the lock (CPython:
//! `RuntimeError`) cannot be written; `notify` without it is allowed (CPython:
//! `RuntimeError`). `Condvar` may wake spuriously: waits check a predicate.
//!
//! Copy it: `cargo new condition`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// A one-item slot, and what happened, in order.
#[derive(Default)]
struct State {
    slot: Option<u32>,
    log: Vec<String>,
}

fn main() {
    init();
    let (state, cond) = (Mutex::new(State::default()), Condvar::new());
    thread::scope(|s| {
        s.spawn(|| {
            for item in 0..3 {
                let state = state.lock().unwrap(); // `unwrap`: a holder panicked
                let mut state = cond.wait_while(state, |s| s.slot.is_some()).unwrap();
                state.slot = Some(item);
                state.log.push(format!("produce {item}"));
                cond.notify_one();
            }
        });
        s.spawn(|| {
            for _ in 0..3 {
                let state = state.lock().unwrap();
                let mut state = cond.wait_while(state, |s| s.slot.is_none()).unwrap();
                let item = state.slot.take().expect("the predicate saw an item");
                state.log.push(format!("consume {item}"));
                cond.notify_one();
            }
        });
    });
    // Printed once the threads are done: one that failed to print leaves nobody waiting.
    let log = std::mem::take(&mut state.lock().unwrap().log);
    println!("{}", log.join(", "));

    // What the example adds: a timed wait that nobody ends, then notify(1) and notify_all.
    let timeout = Duration::from_millis(100);
    let waited = cond.wait_timeout_while(state.lock().unwrap(), timeout, |s| s.slot.is_none());
    println!("wait_for(pred, 0.1) with nobody notifying: {}", !waited.unwrap().1.timed_out());
    let woken = wake_three();
    println!("notify_all(): {woken} of 3 waiters went on");
    assert_eq!(log.join(", "), "produce 0, consume 0, produce 1, consume 1, produce 2, consume 2");
    assert_eq!(woken, 3);
}

/// Three threads wait for a flag; one `notify_all` wakes them all.
fn wake_three() -> u32 {
    let (state, cond) = (Mutex::new((0, false, 0)), Condvar::new()); // waiting, set, woken
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let mut state = state.lock().unwrap();
                state.0 += 1;
                cond.notify_all(); // main waits for all three to be waiting
                let mut state = cond.wait_while(state, |s| !s.1).unwrap();
                state.2 += 1;
            });
        }
        let mut all = cond.wait_while(state.lock().unwrap(), |s| s.0 < 3).unwrap();
        all.1 = true;
        cond.notify_all();
    });
    state.into_inner().unwrap().2
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
