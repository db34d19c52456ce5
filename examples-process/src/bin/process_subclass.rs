//! The Rust counterpart of subclassing `Process` and overriding `run`.
//!
//! Mirrors note 000 "使用继承的方式创建进程", note 001 "1. 多进程 b", note 003 "进程的创建"
//! (the class way) and note 002 "创建多进程的两种方法" (the second way).
//!
//! | CPython                                     | Rust                                       |
//! |---------------------------------------------|--------------------------------------------|
//! | `class ClockProc(Process)`                  | `struct ClockProc` + `impl Run for ClockProc` |
//! | `__init__(self, interval)` sets a field     | a struct field, set where the value is made |
//! | `def run(self)`                             | `fn run(&mut self)`                        |
//! | `ClockProc(3).start()`                      | `Process::from_run(ClockProc { .. }).start()?` |
//! | `self.name = name` in `__init__`            | `.with_name(name)`                         |
//! | `p.join(1)`                                 | `p.join_timeout(Duration)?`                |
//!
//! Run: `cargo run -p examples-process --bin process_subclass`
//!
//! Output, in this order: the child's "start" line with its pid and ppid; the parent's
//! "join(0.3 s) returned" and "main: done waiting" lines while the child still sleeps;
//! the child's "done" line; then four named runners of note 002, whose "end" lines come
//! after the parent's "started all four" line. Pids, and the order of the runners'
//! lines, vary from run to run.
//!
//! Where Rust differs: there is no inheritance. A trait says what a process runs and
//! the struct carries its data; the handle (`Process`) stays the same type for all.
//! CPython names a subclass instance after its class (`ClockProc-1`), and so does
//! `Process::from_run`.
//!
//! In your own program: a struct with a `run` method, started by `procspawn` or by a
//! `std::process::Command` that runs a program.
//!
//! Copy it: `cargo new process_subclass`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process
//! ```

use std::io;
use std::thread::sleep;
use std::time::Duration;

use examples_process::{Failure, Process, Run, random_duration};
use nix::unistd::{getpid, getppid};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let me = getpid();
    println!("main: pid={me}");

    let mut clock =
        Process::from_run(ClockProc { interval: Duration::from_secs(1), parent: me.as_raw() });
    clock.start()?;
    // Like `p.join(0.3)`: returns after the timeout although the child still runs.
    let early = clock.join_timeout(Duration::from_millis(300))?;
    println!(
        "main: join(0.3 s) returned {early:?}; {} is_alive={}",
        clock.name(),
        clock.is_alive()
    );
    println!("main: done waiting");
    let code = clock.join()?; // now wait for real
    println!("main: {} exited with code {code}", clock.name());

    // Note 002, the second way: four runners, each named in its constructor.
    let mut runners: Vec<Process> = ["anne", "alex", "ab", "hey"]
        .into_iter()
        .map(|name| Process::from_run(Runner { name }).with_name(name))
        .collect();
    for runner in &mut runners {
        runner.start()?;
    }
    println!("main: started all four"); // printed before any runner ends
    let codes = runners.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;

    assert_eq!(early, None, "join_timeout must return while the child sleeps");
    assert_eq!(clock.name(), "ClockProc-1");
    assert_eq!(code, 0, "the child checks its own ppid; 1 would mean that check failed");
    assert_eq!(codes, [0; 4]);
    println!("main: ok, every child exited with code 0");
    Ok(())
}

/// A process type with a field, like `ClockProc(interval)` in the note.
struct ClockProc {
    interval: Duration,
    /// The pid that will start us, to check `getppid()` against.
    parent: i32,
}

impl Run for ClockProc {
    fn run(&mut self) {
        let (pid, ppid) = (getpid(), getppid());
        println!("child: start pid={pid} ppid={ppid}");
        // A panic in the child becomes exit code 1, which the parent asserts against.
        assert_eq!(ppid.as_raw(), self.parent, "the parent of a forked child is the forker");
        sleep(self.interval);
        println!("child: done pid={pid}");
    }
}

/// Note 002's `Run(name)`: announces itself, sleeps a random while, says it ended.
struct Runner {
    name: &'static str,
}

impl Run for Runner {
    fn run(&mut self) {
        println!("{} running", self.name);
        sleep(random_duration(Duration::from_millis(100), Duration::from_millis(500)));
        println!("{} running end", self.name);
    }
}
