//! Starting a child process with arguments, and the life of a `Process` handle.
//!
//! Mirrors note 000 "创建子进程", note 001 "1. 多进程 a", note 004 "Process进程类的说明"
//! and "进程执行带有参数的任务".
//!
//! | CPython                                            | Rust                                     |
//! |----------------------------------------------------|------------------------------------------|
//! | `Process(target=f, args=('test', 18), kwargs={'m': 23})` | `Process::new(move \|\| f("test", 18, &kwargs))` |
//! | `Process(target=task, kwargs={"count": 3})`        | `Process::new(\|\| task_with(TaskArgs { count: 3 }))` |
//! | `Process(..., name="worker")`                      | `.with_name("worker")`                   |
//! | `p.start()`, `p.is_alive()`, `p.join()`, `p.exitcode` | `start()?`, `is_alive()`, `join()?`, `exitcode()` |
//!
//! Run: `cargo run -p examples-process --bin process_args`
//!
//! Output: the child's two "child: name=test age=18 kwargs={"m": 23}" lines, the
//! handle's state before start, after start and after join, then the two `task` runs.
//! What varies: whether the child's first line comes before or after the parent's
//! "after start" line (the two processes run at the same time).
//!
//! Where Rust differs: a closure replaces `args`/`kwargs`. It captures whatever the
//! child needs, checked by the compiler; "keyword arguments" become a struct with named
//! fields, or a map when the names are data, as in the note's `**kwargs`.
//!
//! In your own program: `procspawn::spawn(args, f)` passes serde arguments to a
//! function run in a child process, without `fork`.
//!
//! Copy it: `cargo new process_args`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::collections::BTreeMap;
use std::thread::sleep;
use std::time::Duration;

use examples_process::{Failure, Process};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    println!("main: starting");

    // args=('test', 18) become ordinary parameters; kwargs={'m': 23} a map.
    let kwargs = BTreeMap::from([("m", 23)]);
    let mut p = Process::new(move || run_proc("test", 18, &kwargs));
    println!(
        "main: name={} is_alive={} exitcode={:?} (before start)",
        p.name(),
        p.is_alive(),
        p.exitcode()
    );

    p.start()?;
    // Not yet reaped, so alive: true (unless the child already ended, which it cannot
    // here: it sleeps between its lines).
    let alive_after_start = p.is_alive();
    println!("main: is_alive={alive_after_start} exitcode={:?} (after start)", p.exitcode());

    let code = p.join()?;
    println!("main: is_alive={} exitcode={:?} (after join)", p.is_alive(), p.exitcode());

    // Note 004: the same task given its argument by position and by name, and a name
    // chosen instead of the default Process-N.
    let mut by_position = Process::new(|| task(5));
    let mut by_name = Process::new(|| task_with(TaskArgs { count: 3 })).with_name("worker");
    println!("main: names {} and {}", by_position.name(), by_name.name());
    by_position.start()?;
    by_position.join()?;
    by_name.start()?;
    by_name.join()?;

    assert!(alive_after_start);
    assert_eq!((code, p.exitcode(), p.is_alive()), (0, Some(0), false));
    assert_eq!(
        (p.name(), by_position.name(), by_name.name()),
        ("Process-1", "Process-2", "worker")
    );
    assert_eq!((by_position.exitcode(), by_name.exitcode()), (Some(0), Some(0)));
    println!("main: ok, all three children exited with code 0");
    Ok(())
}

/// The note's `run_proc(name, age, **kwargs)`: prints its arguments twice.
fn run_proc(name: &str, age: u32, kwargs: &BTreeMap<&str, i32>) {
    for _ in 0..2 {
        println!("child: name={name} age={age} kwargs={kwargs:?}");
        sleep(Duration::from_millis(200));
    }
}

/// Named arguments: a struct whose field names the caller writes out.
struct TaskArgs {
    count: u32,
}

fn task_with(args: TaskArgs) {
    task(args.count);
}

/// The note's `task(count)`: works `count` times, then says it is done.
fn task(count: u32) {
    for i in 1..=count {
        println!("task: working {i}/{count}");
        sleep(Duration::from_millis(50));
    }
    println!("task: done after {count}");
}
