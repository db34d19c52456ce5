//! The three start methods, fork, spawn and forkserver, from a program that already
//! runs a second thread: what each child sees of the parent's globals, and what each
//! start costs.
//!
//! Mirrors note 001 "1. 多进程" (its warning that `os.fork()` works only where the
//! system has fork) and the `if __name__ == "__main__":` guard that every note's
//! process code sits under: CPython needs it because a spawned child imports the main
//! module again.
//!
//! | CPython                                             | Rust (`examples_process`)                          |
//! |-----------------------------------------------------|----------------------------------------------------|
//! | `if __name__ == "__main__":`                        | `main_guard();` first in `main`                    |
//! | `ctx = get_context("spawn")`                        | `StartMethod::Spawn` (`"spawn".parse()`)           |
//! | `ctx.Process(target=report, args=("spawn",))`       | `Process::call(report, "spawn".to_string()).with_start_method(method)` |
//! | `multiprocessing.forkserver.ensure_running()`       | `ensure_forkserver()?`                             |
//!
//! Run: `cargo run -p examples-process --bin start_methods`
//!
//! Output: the parent sets `GLOBAL` to 42 and starts a logger thread; fork is then
//! refused (the error names the other two methods); a spawned child and a forkserver
//! child each print their name, pid and parent, and see `GLOBAL = 0`, the value the
//! program starts with, because each is this program run afresh; each start + join
//! takes the time shown. Once the logger thread has been joined, a forked child sees
//! `GLOBAL = 42`, a copy of the parent's memory. What varies: pids and times (spawn
//! costs an `exec` and the program's start-up, a few ms; a forkserver child is a fork
//! of a small, single-threaded process, well under a ms to start).
//!
//! Where Rust differs: a spawned child cannot run a closure, which has no name outside
//! this process's memory; it runs a plain `fn` with serde arguments, named by its
//! offset in the executable (CPython pickles the function by module and name). fork
//! from a threaded program is an error here: a lock held by another thread at that
//! instant would stay locked in the child for ever (CPython 3.12 warns, and 3.14 makes
//! forkserver its default on Linux for the same reason).
//!
//! In your own program: `procspawn` runs closures' code in spawned processes the same
//! way (a call at the top of `main`, serde arguments); `std::process::Command` runs
//! other programs.
//!
//! Copy it: `cargo new start_methods`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use examples_process::{
    Failure, Process, StartMethod, current_process, ensure_forkserver, parent_process,
};

/// A global that the parent changes before starting children.
static GLOBAL: AtomicU32 = AtomicU32::new(0);

fn main() -> Result<(), Failure> {
    // Spawn and forkserver children run this program again: here they run their target
    // and exit, so the rest of main runs in the parent only.
    examples_process::main_guard();
    examples_process::exit_on_stdout_failure();
    // The fork server: a single-threaded process, started before any thread.
    ensure_forkserver()?;
    GLOBAL.store(42, SeqCst);
    println!("main: set GLOBAL = {}", GLOBAL.load(SeqCst));

    let (stop, stopped) = mpsc::channel::<()>();
    let logger = std::thread::Builder::new().name("logger".into()).spawn(move || {
        let _ = stopped.recv(); // a thread that runs until told to stop
    })?;
    println!("main: a logger thread runs too: two threads");

    let mut seen = Vec::new();
    for method in StartMethod::ALL {
        match start_and_join(method) {
            Ok((global, took)) => {
                println!("{method}: started and joined in {:.1} ms", ms(took));
                seen.push((method, global));
            }
            // Expected: fork refuses while two threads run. Any other failure ends the
            // program with one line.
            Err(e) if method == StartMethod::Fork => println!("{method}: refused: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    drop(stop);
    logger.join().map_err(|_| Failure::new("the logger thread panicked"))?;
    println!("main: the logger has ended: one thread, so fork works now");
    let (global, took) = start_and_join(StartMethod::Fork)?;
    println!("fork: started and joined in {:.1} ms", ms(took));

    // Each child exits with the value it saw: a copy with fork, a fresh start otherwise.
    let expected = [(StartMethod::Spawn, 0), (StartMethod::Forkserver, 0)];
    assert_eq!(seen, expected, "fork refused while two threads ran; the others saw 0");
    assert_eq!(global, 42, "a forked child sees the parent's value");
    println!("main: fork saw 42 (a copy of the parent), spawn and forkserver 0 (a fresh start)");
    Ok(())
}

/// Starts `report` with `method`; returns the `GLOBAL` the child saw and the time taken.
fn start_and_join(method: StartMethod) -> std::io::Result<(u32, Duration)> {
    let started = Instant::now();
    let mut child = Process::call(report, method.to_string()).with_start_method(method);
    child.start()?;
    let code = child.join()?;
    Ok((u32::try_from(code).unwrap_or(u32::MAX), started.elapsed()))
}

/// The child: says who it is and what it sees, and exits with that value.
fn report(method: String) {
    let (me, parent) = (current_process(), parent_process().expect("a child has a parent"));
    let global = GLOBAL.load(SeqCst);
    println!(
        "{method}: child {} (pid {}) of {} (pid {}) sees GLOBAL = {global}",
        me.name, me.pid, parent.name, parent.pid
    );
    std::process::exit(global as i32);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
