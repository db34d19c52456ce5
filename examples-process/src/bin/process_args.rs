//! Note 000 "创建子进程" (`args`, `kwargs`, `start`, `is_alive`, `join`); note 004
//! "进程执行带有参数的任务" and "Process进程类的说明" (default names `Process-N`).
//!
//! | CPython                                                  | Rust                                |
//! |----------------------------------------------------------|-------------------------------------|
//! | `p = Process(target=run_proc, args=('test', 18), kwargs={'m': 23})` | `let mut p = Process::new(move \|\| run_proc("test", 18, kwargs));` |
//! | `p.start()`, `p.is_alive()`, `p.join()`, `p.name`        | `p.start()?`, `p.is_alive()`, `p.join()?`, `p.name()` |
//! | `Process(target=task, kwargs={"count": 3})`              | `Process::new(\|\| task_kw(Task { count: 3 }))` |
//!
//! Run: `cargo run -p examples-process --bin process_args`
//!
//! ```text
//! main: starting
//! main: the child is about to run
//! main: is_alive()=true
//! child: name=test, age=18, kwargs={"m": 23}     <- may come before main's line above
//! child: name=test, age=18, kwargs={"m": 23}
//! main: Process-1 ended with exitcode 0
//! task: 5 steps done in Process-2
//! task: 3 steps done in Process-3
//! ```
//!
//! Where Rust differs: a closure carries the arguments, checked by the compiler
//! (`Send`); keyword arguments become a struct, or a map as for `**kwargs`.
//!
//! Copy it: `cargo new process_args`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::Duration;

use examples_process::{Failure, Process, current_process};

fn run_proc(name: &str, age: u32, kwargs: BTreeMap<&str, i32>) {
    for _ in 0..2 {
        println!("child: name={name}, age={age}, kwargs={kwargs:?}");
        sleep(Duration::from_millis(200)); // 0.5 s in the note
    }
}

/// Note 004's `task(count)`; named arguments (`kwargs`) are a struct's fields.
fn task(count: u32) {
    sleep(Duration::from_millis(20) * count);
    println!("task: {count} steps done in {}", current_process().name);
}

struct Task {
    count: u32,
}

fn task_kw(kwargs: Task) {
    task(kwargs.count);
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    println!("main: starting");
    let mut p = Process::new(|| run_proc("test", 18, BTreeMap::from([("m", 23)])));
    println!("main: the child is about to run");
    p.start()?;
    println!("main: is_alive()={}", p.is_alive()); // the child sleeps: still alive
    let code = p.join()?;
    println!("main: {} ended with exitcode {code}", p.name());

    for mut sub_process in [Process::new(|| task(5)), Process::new(|| task_kw(Task { count: 3 }))] {
        sub_process.start()?;
        sub_process.join()?;
    }
    assert_eq!(code, 0);
    Ok(())
}
