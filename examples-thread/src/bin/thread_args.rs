//! Threads from a function, with arguments; several tasks at the same time.
//!
//! Mirrors note 000 "多线程", note 004 "多线程完成多任务的代码" and "线程执行带有参数的任务",
//! and note 002 "多线程 / 创建线程的方法" (the function way).
//!
//! | CPython                                         | Rust (`examples_thread::Thread`)         |
//! |-------------------------------------------------|------------------------------------------|
//! | `Thread(target=sing).start()`                   | `Thread::spawn(sing)?`                   |
//! | `Thread(target=task, args=(5,))`                | `Thread::with_args(task, 5)?`            |
//! | `Thread(target=task, kwargs={"count": 3})`      | `Thread::with_args(task_with, TaskArgs { count: 3 })?` |
//! | `threading.current_thread()`                    | `examples_thread::current_thread()`      |
//! | `t.join()`                                      | `t.join()`                               |
//!
//! Run: `cargo run -p examples-thread --bin thread_args`
//!
//! Output: the main thread (`<_MainThread(MainThread, started …)>`), then each task's own
//! thread as CPython shows it (`<Thread(Thread-1 (sing), started …)>`: note 004's
//! commented-out `current_thread()` lines), "singing 0..2" and "dancing 0..2"
//! interleaved, then the wall time for both (about 0.6 s where one after the other
//! would take 1.2 s); the task run five times then three times; note 002's `run("t1")`
//! and `run("t2")` counting down "2s, 1s, 0s" side by side: "t1" is the argument, not
//! the thread's name, which is `Thread-N (run)`. What varies: the interleaving, the
//! times and the thread ids.
//!
//! Where Rust differs: `Thread::with_args` takes the function and its argument, as
//! `args=` does; several arguments go in a tuple, named ones in a struct, and the
//! compiler checks that they may cross to another thread (`Send`). There is no separate
//! `start()`: a thread runs as soon as it is spawned. Unlike CPython, the two threads
//! also run Python-style CPU-bound code at the same time: there is no global
//! interpreter lock.
//!
//! In your own program: `std::thread::spawn` or `std::thread::scope`; Rust threads have
//! an optional name (`thread::Builder::name`) and no `Thread-N` counter.
//!
//! Copy it: `cargo new thread_args`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-thread --path $REPO/examples-thread --no-default-features
//! ```

use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_process::Failure;
use examples_thread::{Thread, current_thread};

const STEP: Duration = Duration::from_millis(200);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    println!("main: the current thread is {}", current_thread());
    let started = Instant::now();
    let sing_thread = Thread::spawn(sing)?;
    let dance_thread = Thread::spawn(dance)?;
    let names = [sing_thread.name(), dance_thread.name()];
    let sing_span = sing_thread.join();
    let dance_span = dance_thread.join();
    println!(
        "main: sing and dance took {:.2} s together; one after the other would take {:.2} s",
        started.elapsed().as_secs_f64(),
        (sing_span.1 - sing_span.0 + (dance_span.1 - dance_span.0)).as_secs_f64(),
    );

    // A positional argument and a named one (a struct with a `count` field).
    Thread::with_args(task, 5)?.join();
    Thread::with_args(task_with, TaskArgs { count: 3 })?.join();

    // Note 002: one function, two threads, each given its label as an argument.
    let countdowns = [Thread::with_args(run, "t1")?, Thread::with_args(run, "t2")?];
    let countdown_names: Vec<String> = countdowns.iter().map(Thread::name).collect();
    countdowns.into_iter().for_each(Thread::join);
    println!("main: the countdown threads were named {countdown_names:?}");

    // Each task began before the other ended: they ran at the same time.
    assert!(sing_span.0 < dance_span.1 && dance_span.0 < sing_span.1);
    assert!(names[0].ends_with(" (sing)") && names[1].ends_with(" (dance)"), "{names:?}");
    assert!(countdown_names.iter().all(|n| n.starts_with("Thread-") && n.ends_with(" (run)")));
    println!("main: ok, sing and dance overlapped");
    Ok(())
}

/// Note 004's `sing()`, with its `current_thread()` line; returns when it ran.
fn sing() -> (Instant, Instant) {
    println!("sing: the current thread is {}", current_thread());
    perform("singing")
}

/// Note 004's `dance()`.
fn dance() -> (Instant, Instant) {
    println!("dance: the current thread is {}", current_thread());
    perform("dancing")
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

/// Note 002's `run(n)`: `n` is a label passed in, printed before the countdown.
fn run(n: &'static str) {
    println!("task {n}");
    for left in (0..3).rev() {
        sleep(Duration::from_millis(100));
        println!("{left}s ({n})");
    }
}
