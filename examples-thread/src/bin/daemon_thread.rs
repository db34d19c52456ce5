//! What happens to running threads when `main` ends: waited for, or cut off.
//!
//! Mirrors note 004 "线程" (point 2: the main thread waits for its threads) and the
//! daemon threads of "线程执行带有参数的任务" (`Thread(daemon=True)`, `setDaemon(True)`).
//!
//! | CPython                                             | Rust                                   |
//! |-----------------------------------------------------|----------------------------------------|
//! | a normal thread: the interpreter waits for it       | keep the handle and `join()` it, or use `thread::scope` |
//! | `Thread(target=f, daemon=True)` / `t.setDaemon(True)` | drop the handle (the thread is detached) |
//! | a daemon thread is cut off when the program exits   | every thread still running is cut off when `main` returns |
//!
//! Run: `cargo run -p examples-thread --bin daemon_thread`
//!
//! What happens at exit can only be seen from outside, so this program runs itself
//! twice, as `daemon_thread joined` and `daemon_thread detached`, and shows each run's
//! output (prefixed with `|`). In the joined run the worker's "worker: finished" line
//! comes after main's last line, as CPython's default does; in the detached run the
//! output ends with main's last line, as with a CPython daemon thread. What varies:
//! where main's line falls among the worker's lines.
//!
//! Where Rust differs: the default is the other way round. Rust waits for no thread
//! when `main` returns: every thread behaves like a CPython daemon unless something
//! joins it. There is no daemon flag; whether you keep the `JoinHandle` decides.
//! `thread::scope` is the safest form of CPython's default: the compiler will not let
//! the scope end before its threads are joined.
//!
//! In your own program: `run_self` is
//! `std::process::Command::new(std::env::current_exe()?)` with an argument and
//! `.output()`.
//!
//! Copy it: `cargo new daemon_thread`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::io;
use std::process::ExitCode;
use std::thread::{self, sleep};
use std::time::Duration;

use examples_process::{Failure, run_self};

const USAGE: &str = "usage: daemon_thread [joined | detached]";

fn main() -> Result<ExitCode, Failure> {
    examples_process::exit_on_stdout_failure();
    // `args_os`, not `args`, which panics on an argument that is not UTF-8.
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => overview()?,
        ["joined"] => joined(),
        ["detached"] => detached(),
        ["-h" | "--help"] => println!("{USAGE}"),
        _ => {
            eprintln!("daemon_thread: unexpected arguments {args:?}; {USAGE}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// CPython's default: main's code ends, then the program waits for the worker.
fn joined() {
    thread::scope(|s| {
        s.spawn(work);
        sleep(Duration::from_millis(300));
        println!("main: end of main's code");
    }); // the scope joins the worker here
}

/// A daemon thread: nobody keeps its handle, so nobody waits for it.
fn detached() {
    drop(thread::spawn(work));
    sleep(Duration::from_millis(300));
    println!("main: end of main's code");
} // main returns: the process exits and the worker is cut off mid-loop

/// Works for 1 s. Its lines fall 0.2 s apart, 0.1 s away from main's line at 0.3 s.
fn work() {
    for i in 1..=5 {
        println!("worker: step {i}/5");
        sleep(Duration::from_millis(200));
    }
    println!("worker: finished");
}

fn overview() -> io::Result<()> {
    let joined = run_self("joined")?;
    let detached = run_self("detached")?;
    let last_lines = [joined.last(), detached.last()].map(|l| l.map_or("", String::as_str));
    assert_eq!(last_lines, ["worker: finished", "main: end of main's code"]);
    println!(
        "main: ok, the joined worker finished after main's code, the detached one was cut off"
    );
    Ok(())
}
