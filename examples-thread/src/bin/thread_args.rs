//! Threads from a function, with arguments; several tasks at the same time.
//!
//! Mirrors note 000 "多线程", note 004 "多线程完成多任务的代码" and "线程执行带有参数的任务",
//! and note 002 "多线程 / 创建线程的方法" (the function way).
//!
//! | CPython                                         | Rust                                     |
//! |-------------------------------------------------|------------------------------------------|
//! | `Thread(target=sing)`                           | `thread::spawn(\|\| perform("singing"))` |
//! | `Thread(target=task, args=(5,))`                | `thread::spawn(\|\| task(5))`            |
//! | `Thread(target=task, kwargs={"count": 3})`      | `thread::spawn(\|\| task_with(TaskArgs { count: 3 }))` |
//! | `Thread(..., name="t1")`                        | `thread::Builder::new().name("t1".into()).spawn(..)?` |
//! | `t.start()` ... `t.join()`                      | `spawn` starts it; `handle.join()`       |
//!
//! Run: `cargo run -p examples-thread --bin thread_args`
//!
//! Output: "singing 0..2" and "dancing 0..2" interleaved, then the wall time for both
//! (about 0.6 s where one after the other would take 1.2 s); the task run five times
//! then three times; two named threads counting down "2s, 1s, 0s" side by side.
//! What varies: the interleaving and the times.
//!
//! Where Rust differs: a closure replaces `args` and `kwargs`; the compiler checks that
//! what it captures may cross to another thread (`Send`) and lives long enough
//! (`'static`, or a scoped thread). There is no separate `start()`: a thread runs as
//! soon as it is spawned. Unlike CPython, the two threads also run Python-style
//! CPU-bound code at the same time: there is no global interpreter lock.
//!
//! Copy it: `cargo new thread_args`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use examples_process::Failure;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

const STEP: Duration = Duration::from_millis(200);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let started = Instant::now();
    let sing_thread = thread::spawn(|| perform("singing"));
    let dance_thread = thread::spawn(|| perform("dancing"));
    let sing_span = join(sing_thread);
    let dance_span = join(dance_thread);
    println!(
        "main: sing and dance took {:.2} s together; one after the other would take {:.2} s",
        started.elapsed().as_secs_f64(),
        (sing_span.1 - sing_span.0 + (dance_span.1 - dance_span.0)).as_secs_f64(),
    );

    // A positional argument and a named one (a struct with a `count` field).
    join(thread::spawn(|| task(5)));
    join(thread::spawn(|| task_with(TaskArgs { count: 3 })));

    // Note 002: one function, two named threads, each counting down.
    let countdowns = ["t1", "t2"]
        .into_iter()
        .map(|name| thread::Builder::new().name(name.into()).spawn(count_down))
        .collect::<std::io::Result<Vec<_>>>()?;
    countdowns.into_iter().for_each(join);

    // Each task began before the other ended: they ran at the same time.
    assert!(sing_span.0 < dance_span.1 && dance_span.0 < sing_span.1);
    println!("main: ok, sing and dance overlapped");
    Ok(())
}

/// Waits for a thread; a panic in it is re-raised here, as this is an example.
fn join<T>(handle: thread::JoinHandle<T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Does `what` three times, 0.2 s apart; returns when it started and ended.
fn perform(what: &str) -> (Instant, Instant) {
    let start = Instant::now();
    for i in 0..3 {
        println!("{what} {i}");
        sleep(STEP);
    }
    (start, Instant::now())
}

/// Named arguments: a struct whose field names the caller writes out.
struct TaskArgs {
    count: u32,
}

fn task_with(args: TaskArgs) {
    task(args.count);
}

fn task(count: u32) {
    for i in 1..=count {
        println!("task: working {i}/{count}");
        sleep(Duration::from_millis(20));
    }
    println!("task: done after {count}");
}

/// Note 002's `run(n)`, which reads its name from the thread running it.
fn count_down() {
    let me = thread::current();
    let name = me.name().unwrap_or("<unnamed>");
    println!("task {name}");
    for left in (0..3).rev() {
        sleep(Duration::from_millis(100));
        println!("{name}: {left}s");
    }
}
