//! Several tasks at once, one process each.
//!
//! Mirrors note 004 "多进程完成多任务的代码" (dance and sing) and note 002
//! "创建多进程的两种方法" (the first way: four processes from one function).
//!
//! | CPython                                              | Rust                                  |
//! |------------------------------------------------------|---------------------------------------|
//! | `Process(target=dance, name="myprocess1")`           | `Process::new(\|\| perform("dancing")).with_name("myprocess1")` |
//! | `Process(target=run, args=('anne',))`                | `Process::new(move \|\| run(name))`   |
//! | `start()` each, and the interpreter waits at exit    | `start()?` each, then `join()?` each  |
//!
//! Run: `cargo run -p examples-process --bin multitask`, or with
//! `-- --timeline multitask.svg` to also draw who ran when (one row per process).
//!
//! Output: "dancing..." and "singing..." lines interleaved (five each, 0.2 s apart),
//! then the wall time for both, about 1 s, where one task after the other would take
//! 2 s; then four runners, and the parent's "main: started all four" line before any
//! "running end" line. What varies: the interleaving, the runners' order, the times.
//!
//! Where Rust differs: CPython's interpreter joins non-daemon children when the main
//! module ends; here the `Process` handles do it when they are dropped, and this
//! example joins them explicitly to time them.
//!
//! In your own program: `std::process::Command` runs another program; `procspawn` runs
//! a Rust function in a child process without `fork`'s one-thread rule.
//!
//! Copy it: `cargo new multitask`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_process::timeline::{self, Timeline};
use examples_process::{Failure, Process, random_duration};

const STEPS: u32 = 5;
const STEP: Duration = Duration::from_millis(200);

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let timeline = Timeline::from_args_or_exit(); // off without --timeline FILE.svg
    let started = Instant::now();
    let mut dance_process = Process::new(|| perform("dancing")).with_name("myprocess1");
    let mut sing_process = Process::new(|| perform("singing"));
    dance_process.start()?;
    sing_process.start()?;
    let codes = (dance_process.join()?, sing_process.join()?);
    let both = started.elapsed();
    println!(
        "main: {} and {} took {:.2} s together; one after the other would take {:.2} s",
        dance_process.name(),
        sing_process.name(),
        both.as_secs_f64(),
        2.0 * (STEP * STEPS).as_secs_f64(),
    );

    // Note 002, the first way: one function, four processes, each with its argument.
    let mut runners: Vec<Process> = ["anne", "alice", "biantai", "haha"]
        .into_iter()
        .map(|name| Process::new(move || run(name)))
        .collect();
    for runner in &mut runners {
        runner.start()?;
    }
    // The runners each sleep at least 0.1 s, so this comes before any of them ends.
    println!("main: started all four");
    timeline::mark("started all four");
    let runner_codes = runners.iter().map(Process::join).collect::<io::Result<Vec<_>>>()?;

    assert_eq!(codes, (0, 0));
    assert_eq!(runner_codes, [0; 4]);
    println!("main: ok, all six children exited with code 0");
    if let Some(path) = timeline.save("multitask: two tasks at once, then four runners")? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}

/// The note's `dance` and `sing`: the same loop with a different word.
fn perform(what: &str) {
    for _ in 0..STEPS {
        let _step = timeline::span(what); // one bar per step; ends at the loop's end
        println!("{what}...");
        sleep(STEP);
    }
}

fn run(name: &str) {
    let _running = timeline::span(name);
    println!("{name} running");
    sleep(random_duration(Duration::from_millis(100), Duration::from_millis(500)));
    println!("{name} running end");
}
