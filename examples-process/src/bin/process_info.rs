//! Note 004 "获取进程编号" (pids, ppids, `current_process()`; a child kills itself with
//! signal 9) and note 003 "进程的创建" (`active_children()`, `cpu_count()`).
//!
//! | CPython                                  | Rust                                          |
//! |------------------------------------------|-----------------------------------------------|
//! | `os.getpid()`, `os.getppid()`            | `nix::unistd::getpid()`, `getppid()`          |
//! | `multiprocessing.current_process()`      | `current_process()`                           |
//! | `os.kill(os.getpid(), 9)`                | `kill(getpid(), Signal::SIGKILL)`             |
//! | `active_children()`, `cpu_count()`       | `active_children()`, `available_parallelism()?` |
//!
//! Run: `cargo run -p examples-process --bin process_info`
//!
//! ```text
//! main: pid=25851 <Process name='MainProcess' pid=25851>      <- pids vary
//! sing: pid=25908 ppid=25851 <Process name='Process-2' pid=25908>
//! singing...        <- five of these, 0.1 s apart; the other lines' places vary
//! main: active_children: myprocess1, Process-2; cpu_count=2
//! dance: pid=25907 ppid=25851 <Process name='myprocess1' pid=25907>
//! dancing...        <- once: then it kills itself
//! main: exitcodes: myprocess1 -9, Process-2 0
//! ```
//!
//! Where Rust differs: nothing: pids are the kernel's; killed by signal N is exit code -N.
//!
//! Copy it: `cargo new process_info`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add nix@0.31 --features process,signal
//! ```

use std::thread::{available_parallelism, sleep};
use std::time::Duration;

use examples_process::{Failure, Process, active_children, current_process};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{getpid, getppid};

fn dance() {
    println!("dance: pid={} ppid={} {}", getpid(), getppid(), current_process());
    for _ in 0..5 {
        println!("dancing...");
        sleep(Duration::from_millis(200));
        let _ = kill(getpid(), Signal::SIGKILL); // as the note does: nothing after this runs
    }
}

fn sing() {
    println!("sing: pid={} ppid={} {}", getpid(), getppid(), current_process());
    for _ in 0..5 {
        println!("singing...");
        sleep(Duration::from_millis(100));
    }
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    println!("main: pid={} {}", getpid(), current_process());
    let mut dance_process = Process::new(dance).with_name("myprocess1");
    let mut sing_process = Process::new(sing);
    dance_process.start()?;
    sing_process.start()?;
    let running: Vec<String> = active_children().into_iter().map(|c| c.name).collect();
    println!(
        "main: active_children: {}; cpu_count={}",
        running.join(", "),
        available_parallelism()?
    );
    let codes = [dance_process.join()?, sing_process.join()?];
    println!("main: exitcodes: myprocess1 {}, Process-2 {}", codes[0], codes[1]);
    assert_eq!(codes, [-9, 0], "killed by signal 9 reads as -9");
    assert!(active_children().is_empty(), "joined children are no longer listed");
    Ok(())
}
