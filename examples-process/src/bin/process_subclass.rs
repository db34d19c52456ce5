//! Note 000 "使用继承的方式创建进程" (a subclass; `join(1)` returns before the child is
//! done), 001 b and 003 (pid and ppid), 002's second way (`self.name = name`).
//!
//! | CPython                                            | Rust                                  |
//! |----------------------------------------------------|---------------------------------------|
//! | `class ClockProc(Process)`, `self.interval = ...`  | `struct ClockProc { interval }` + `impl Run` |
//! | `p = ClockProc(3); p.start(); p.join(1)`           | `Process::from_run(ClockProc {..})`, `start()?`, `join_timeout(1 s)?` |
//!
//! Run: `cargo run -p examples-process --bin process_subclass`
//!
//! ```text
//! ClockProc-1: start, pid=25596 ppid=25544            <- pids vary
//! main: join(0.3) returned None after 0.30 s; the child still runs
//! ClockProc-1: end
//! alex running          <- the runners' order varies
//! main: started all four
//! hey running
//! anne running
//! ab running
//! ...                   <- then "ab running end" and the three others, as they wake
//! ```
//!
//! Where Rust differs: no class to inherit from: a struct holds what `__init__` kept,
//! `impl Run` is the override. CPython names `ClockProc-1` after the class; so does this.
//!
//! Copy it: `cargo new process_subclass`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::thread::sleep;
use std::time::Duration;

use examples_process::{Failure, Process, Run, current_pid, current_process, random_duration};

struct ClockProc {
    interval: Duration,
}

impl Run for ClockProc {
    fn run(&mut self) {
        let me = current_process();
        let ppid = examples_process::parent_process().map_or(0, |p| p.pid);
        println!("{}: start, pid={} ppid={ppid}", me.name, current_pid());
        sleep(self.interval);
        println!("{}: end", me.name);
    }
}

/// Note 002's `Run(name)`: its name is the process's name.
struct Runner;

impl Run for Runner {
    fn run(&mut self) {
        let name = current_process().name; // what `self.name = name` set
        println!("{name} running");
        sleep(random_duration(Duration::from_millis(100), Duration::from_millis(400)));
        println!("{name} running end");
    }
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let mut p = Process::from_run(ClockProc { interval: Duration::from_millis(600) }); // 3 s
    p.start()?;
    let asked = std::time::Instant::now();
    let early = p.join_timeout(Duration::from_millis(300))?; // join(1)
    let waited = asked.elapsed().as_secs_f64();
    println!("main: join(0.3) returned {early:?} after {waited:.2} s; the child still runs");
    p.join()?;

    let mut runners = ["anne", "alex", "ab", "hey"].map(|n| Process::from_run(Runner).with_name(n));
    for runner in &mut runners {
        runner.start()?;
    }
    println!("main: started all four"); // the runners sleep at least 0.1 s: before any ends
    for runner in &runners {
        assert_eq!(runner.join()?, 0);
    }
    assert_eq!((early, p.exitcode(), p.name()), (None, Some(0), "ClockProc-1"));
    Ok(())
}
