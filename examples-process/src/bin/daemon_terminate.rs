//! Note 004 "进程的注意点": main waits for children, not daemons; `terminate()` ends one.
//!
//! | CPython                                    | Rust                                       |
//! |--------------------------------------------|--------------------------------------------|
//! | `p.daemon = True`; at exit: join, or terminate a daemon | `.with_daemon(true)`; dropping the `Process` |
//! | `p.terminate()`, then `p.exitcode == -15`  | `p.terminate()?`, then `p.join()? == -15`  |
//!
//! Run: `cargo run -p examples-process --bin daemon_terminate` (`-- daemon --timeline d.svg`)
//!
//! ```text
//! main: running `daemon_terminate non-daemon`:
//!   | child: working 1/3
//!   | child: working 2/3
//!   | main: end of main
//!   | child: working 3/3
//!   | child: finished                   <- main waited for it
//! main: running `daemon_terminate daemon`:
//!   | child: working 1/3
//!   | child: working 2/3
//!   | main: end of main                 <- the daemon child was cut off here
//! main: daemon after start() refused: true; after terminate() exitcode=-15
//! ```
//!
//! Where Rust differs: `Process`'s `Drop` does CPython's exit handler's job.
//!
//! Copy it: `cargo new daemon_terminate`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::ffi::OsString;
use std::process::ExitCode;
use std::thread::sleep;
use std::time::Duration;

use examples_process::timeline::{self, Timeline};
use examples_process::{Failure, Process, run_self};

/// Works 3 steps, 0.15 s apart; main ends after 0.25 s, between steps 2 and 3.
fn work() {
    for i in 1..=3 {
        let _step = timeline::span(&format!("working {i}"));
        println!("child: working {i}/3");
        sleep(Duration::from_millis(150));
    }
    println!("child: finished");
}

fn end_main_with_child_running(daemon: bool) -> std::io::Result<()> {
    let _main = timeline::span("main");
    let mut child = Process::new(work).with_daemon(daemon);
    child.start()?;
    sleep(Duration::from_millis(250));
    println!("main: end of main");
    timeline::mark("end of main");
    Ok(()) // `child` is dropped here: joined, or terminated if it is a daemon
}

fn main() -> Result<ExitCode, Failure> {
    examples_process::exit_on_stdout_failure();
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let timeline = match timeline::take_flag(&mut args) {
        Ok(path) => Timeline::for_flag(path)?.install()?,
        Err(e) => return Ok(usage(&e)),
    };
    match args.iter().map(|a| a.to_str()).collect::<Vec<_>>()[..] {
        [] => {
            // How a program ends is seen from outside: run it both ways.
            let non_daemon = run_self("non-daemon")?;
            let daemon = run_self("daemon")?;
            assert_eq!(non_daemon.last().map(String::as_str), Some("child: finished"));
            assert_eq!(daemon.last().map(String::as_str), Some("main: end of main"));
            let mut p = Process::new(|| sleep(Duration::from_secs(60)));
            p.start()?;
            let late = p.set_daemon(true).is_err(); // CPython: AssertionError after start()
            p.terminate()?;
            println!(
                "main: daemon after start() refused: {late}; after terminate() exitcode={}",
                p.join()?
            );
        }
        [Some("non-daemon")] => end_main_with_child_running(false)?,
        [Some("daemon")] => end_main_with_child_running(true)?,
        [Some("-h" | "--help")] => println!("{USAGE}"),
        _ => return Ok(usage(&format!("unexpected arguments {args:?}"))),
    }
    if let Some(path) =
        timeline.save("daemon_terminate: main ends; its child is waited for, or cut off")?
    {
        println!("main: timeline written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

const USAGE: &str = "usage: daemon_terminate [daemon | non-daemon] [--timeline FILE.svg]";

fn usage(what: &str) -> ExitCode {
    eprintln!("daemon_terminate: {what}; {USAGE}");
    ExitCode::from(2)
}
