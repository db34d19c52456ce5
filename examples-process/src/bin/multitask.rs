//! Note 004 "多进程完成多任务的代码": dance and sing in two processes at once. Then note
//! 002 "创建多进程的两种方法", the first way: one function, four processes.
//!
//! | CPython                                                | Rust                            |
//! |--------------------------------------------------------|---------------------------------|
//! | `Process(target=dance, name="myprocess1")`             | `Process::new(dance).with_name("myprocess1")` |
//! | `p1 = Process(target=run, args=('anne',)); p1.start()` | `Process::new(\|\| run("anne"))`, `start()?` |
//!
//! Run: `cargo run -p examples-process --bin multitask`; add `-- --timeline multitask.svg`
//! to draw who ran when (one row per process).
//!
//! ```text
//! dancing...        <- the two processes' lines interleave in any order
//! singing...
//! ...               <- five of each, 0.2 s apart
//! main: myprocess1 and Process-2 took 1.00 s together; one after the other: 2.00 s
//! anne running      <- the runners' order varies, and where main's line falls
//! biantai running
//! main: started all four
//! ...               <- the other two, then each "NAME running end" as they wake
//! ```
//!
//! Where Rust differs: nothing in what runs when; `main` joins the children, where
//! CPython's interpreter waits for them at exit by itself.
//!
//! Copy it: `cargo new multitask`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_process::timeline::{self, Timeline};
use examples_process::{Failure, Process, random_duration};

fn dance() {
    for _ in 0..5 {
        let _step = timeline::span("dancing"); // a bar in the timeline, if one is drawn
        println!("dancing...");
        sleep(Duration::from_millis(200));
    }
}

fn sing() {
    for _ in 0..5 {
        let _step = timeline::span("singing");
        println!("singing...");
        sleep(Duration::from_millis(200));
    }
}

fn run(name: &str) {
    let _running = timeline::span(name);
    println!("{name} running");
    sleep(random_duration(Duration::from_millis(100), Duration::from_millis(500)));
    println!("{name} running end");
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let timeline = Timeline::from_args_or_exit(); // off without --timeline FILE.svg
    let started = Instant::now();
    let mut dance_process = Process::new(dance).with_name("myprocess1");
    let mut sing_process = Process::new(sing);
    dance_process.start()?;
    sing_process.start()?;
    dance_process.join()?; // CPython waits for its children at exit; Rust joins them
    sing_process.join()?;
    let (both, names) = (started.elapsed(), [dance_process.name(), sing_process.name()]);
    println!(
        "main: {} and {} took {:.2} s together; one after the other: 2.00 s",
        names[0],
        names[1],
        both.as_secs_f64()
    );

    let mut runners =
        ["anne", "alice", "biantai", "haha"].map(|name| Process::new(move || run(name)));
    for p in &mut runners {
        p.start()?;
    }
    println!("main: started all four"); // each runner sleeps at least 0.1 s: before any ends
    timeline::mark("started all four");
    for p in &runners {
        p.join()?;
    }
    if let Some(path) = timeline.save("multitask: two tasks at once, then four runners")? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}
