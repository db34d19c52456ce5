//! Note 000 "ThreadLocal 使用" (no body): a global set by every thread holds the last
//! writer's value; a thread-local (`threading.local()`) holds each thread's own.
//!
//! | CPython                                   | Rust (std)                                    |
//! |-------------------------------------------|-----------------------------------------------|
//! | `student = None`, `global student`        | `static SHARED: Mutex<&str>`                  |
//! | `local_school = threading.local()`        | `thread_local! { static STUDENT: Cell<&str> }` |
//! | `local_school.student = name` / read it   | `STUDENT.set(name)` / `STUDENT.get()`         |
//!
//! Run: `cargo run -p examples-thread --bin thread_local`
//!
//! ```text
//! global: Alice set "Alice", read "Carol"   <- all read the last writer's name: varies
//! global: Bob set "Bob", read "Carol"
//! global: Carol set "Carol", read "Carol"
//! local: Alice set "Alice", read "Alice"    <- each thread reads its own
//! local: Bob set "Bob", read "Bob"
//! local: Carol set "Carol", read "Carol"
//! local: main never set it, reads "(nobody)"
//! ```
//!
//! Where Rust differs: a `thread_local!` is reached only through its accessors, so no
//! reference to it can leak to another thread; each thread starts from the initial
//! value, where CPython raises `AttributeError` until the thread sets it.
//!
//! Copy it: `cargo new thread_local`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::cell::Cell;
use std::sync::{Barrier, Mutex};
use std::thread;

static SHARED: Mutex<&str> = Mutex::new("(nobody)");

thread_local! {
    static STUDENT: Cell<&'static str> = const { Cell::new("(nobody)") };
}

/// Each thread sets the name, waits until all three have set theirs, then reads it.
fn process_student(name: &'static str, all_set: &Barrier, local: bool) -> &'static str {
    if local {
        STUDENT.set(name);
    } else {
        *SHARED.lock().unwrap() = name; // `unwrap`: only a holder that panicked fails it
    }
    all_set.wait();
    if local { STUDENT.get() } else { *SHARED.lock().unwrap() }
}

fn main() {
    init();
    let names = ["Alice", "Bob", "Carol"];
    for (local, what) in [(false, "global"), (true, "local")] {
        let all_set = Barrier::new(3);
        let read = thread::scope(|s| {
            let threads = names.map(|name| s.spawn(|| process_student(name, &all_set, local)));
            threads.map(|t| t.join().expect("a student thread"))
        });
        for (name, read) in names.iter().zip(read) {
            println!("{what}: {name} set {name:?}, read {read:?}");
        }
        let expected = if local { names } else { [read[0]; 3] }; // one name for all
        assert_eq!(read, expected);
    }
    println!("local: main never set it, reads {:?}", STUDENT.get());
    assert_eq!(STUDENT.get(), "(nobody)");
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
