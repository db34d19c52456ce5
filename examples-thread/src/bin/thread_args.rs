//! Note 004 "多线程完成多任务的代码" (sing and dance on two threads at once), then
//! "线程执行带有参数的任务" (a task given its count by `args`, then by `kwargs`).
//!
//! | CPython                                     | Rust (std)                                   |
//! |---------------------------------------------|----------------------------------------------|
//! | `Thread(target=sing).start()`               | `thread::spawn(sing)`                        |
//! | `Thread(target=task, args=(5,))`            | `thread::spawn(\|\| task(5))`                |
//! | `Thread(target=task, kwargs={"count": 3})`  | `thread::spawn(\|\| task_kw(Task { count: 3 }))` |
//!
//! Run: `cargo run -p examples-thread --bin thread_args`
//!
//! ```text
//! Thread-1 (sing): singing...0      <- the two threads' lines interleave in any order
//! Thread-2 (dance): dancing...0
//! Thread-2 (dance): dancing...1
//! Thread-1 (sing): singing...1
//! Thread-2 (dance): dancing...2
//! Thread-1 (sing): singing...2
//! task: 5 steps done
//! task: 3 steps done
//! ```
//!
//! Where Rust differs: a closure carries the arguments, checked to cross threads
//! (`Send`); named ones go in a struct. `main` returning ends every thread: join them.
//!
//! Copy it: `cargo new thread_args`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::thread::{self, sleep};
use std::time::Duration;

fn sing() {
    for i in 0..3 {
        println!("{}: singing...{i}", thread::current().name().unwrap_or("?"));
        sleep(Duration::from_millis(100)); // the note sleeps 1 s
    }
}

fn dance() {
    for i in 0..3 {
        println!("{}: dancing...{i}", thread::current().name().unwrap_or("?"));
        sleep(Duration::from_millis(100));
    }
}

/// The note's `task(count)`: `count` steps of work, then a line.
fn task(count: u32) {
    for _ in 0..count {
        sleep(Duration::from_millis(20)); // 0.2 s a step in the note
    }
    println!("task: {count} steps done");
}

/// Named arguments (`kwargs`) are a struct's fields.
struct Task {
    count: u32,
}

fn task_kw(kwargs: Task) {
    task(kwargs.count)
}

fn main() -> std::io::Result<()> {
    init();
    // CPython's default names; std's threads have a name only if given one.
    let named = |name: &str| thread::Builder::new().name(name.to_string());
    let sing_thread = named("Thread-1 (sing)").spawn(sing)?;
    let dance_thread = named("Thread-2 (dance)").spawn(dance)?;
    sing_thread.join().expect("sing");
    dance_thread.join().expect("dance");

    thread::spawn(|| task(5)).join().expect("task"); // args=(5,)
    thread::spawn(|| task_kw(Task { count: 3 })).join().expect("task"); // kwargs={"count": 3}
    Ok(())
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
