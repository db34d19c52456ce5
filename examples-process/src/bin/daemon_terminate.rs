//! Daemon and non-daemon children at exit; `terminate()` and `kill()`.
//!
//! Mirrors note 004 "进程的注意点": processes share no global variables (a child appends
//! to a global list, a sibling started after it reads the list and finds it empty); the
//! parent waits for its children before it ends; a daemon child (`daemon = True`) is
//! destroyed when the parent ends; `terminate()` destroys a child at once.
//!
//! | CPython                                  | Rust                                  |
//! |------------------------------------------|---------------------------------------|
//! | a global `g_list = []`, appended to      | `static G_LIST: Mutex<Vec<u32>>`      |
//! | `p.daemon = True` (before `start`)       | `Process::new(f).with_daemon(true)`   |
//! | the interpreter joins children at exit   | dropping a `Process` handle joins it  |
//! | ... and terminates daemon children       | ... or terminates it, if a daemon     |
//! | `p.terminate()` → `exitcode == -15`      | `p.terminate()?` → `Some(-15)`        |
//! | `p.kill()` → `exitcode == -9`            | `p.kill()?` → `Some(-9)`              |
//!
//! Run: `cargo run -p examples-process --bin daemon_terminate`. Add
//! `-- daemon --timeline daemon.svg` to draw the daemon run alone: main's life, and the
//! child's steps cut off when main ends (`--timeline` works in every mode).
//!
//! First the writer child prints the list it filled (`[0, 1, 2]`), then the reader
//! sibling prints `[]`, and so does the parent. What happens at exit can only be seen
//! from outside, so this program runs itself
//! twice, as `daemon_terminate non-daemon` and `daemon_terminate daemon`, and shows
//! each run's output (prefixed with `|`). The non-daemon run ends with the child's
//! "child: finished" line, printed after the parent's "main: end of main"; the daemon
//! run ends with "main: end of main" and its child never finishes. Then `terminate`
//! and `kill` give exit codes -15 and -9. What varies: how many "child: working" lines
//! the daemon prints before it is cut off (about three).
//!
//! Where Rust differs: Rust has no interpreter exit hook. `main` returning drops the
//! handles, and `Process`'s `Drop` does what CPython's exit handler does. Any child,
//! daemon or not, is killed if the parent dies without running that code (a signal, or
//! `std::process::exit`, which skips destructors): `PR_SET_PDEATHSIG`. CPython's
//! non-daemon children would go on running as orphans after `os._exit` or a SIGKILL.
//!
//! In your own program: keep the `std::process::Child` of a `Command` and call `kill()`
//! then `wait()` on it, as `Drop` does here; or `procspawn`, which runs a Rust function
//! in a child process.
//!
//! Copy it: `cargo new daemon_terminate`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! ```

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};
use std::thread::sleep;
use std::time::Duration;

use examples_process::timeline::{self, Timeline};
use examples_process::{Failure, Process, run_self};

const USAGE: &str = "usage: daemon_terminate [daemon | non-daemon] [--timeline FILE.svg]";

fn main() -> Result<ExitCode, Failure> {
    examples_process::exit_on_stdout_failure();
    // `args_os`, not `args`, which panics on an argument that is not UTF-8.
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let timeline = match timeline::take_flag(&mut args) {
        Ok(path) => Timeline::for_flag(path)?.install()?,
        Err(e) => return Ok(usage_error(&e)),
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let title = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {
            overview()?;
            "daemon_terminate: no shared globals; terminate() and kill() cut children off"
        }
        ["daemon"] => {
            end_main_with_child_running(true)?;
            "daemon_terminate daemon: main ends, its daemon child is cut off"
        }
        ["non-daemon"] => {
            end_main_with_child_running(false)?;
            "daemon_terminate non-daemon: main waits for its child at the end"
        }
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return Ok(ExitCode::SUCCESS);
        }
        _ => return Ok(usage_error(&format!("unexpected arguments {args:?}"))),
    };
    if let Some(path) = timeline.save(title)? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("daemon_terminate: {what}; {USAGE}");
    ExitCode::from(2)
}

/// A child that works for 1 s; the parent ends its `main` after 0.25 s.
fn end_main_with_child_running(daemon: bool) -> io::Result<()> {
    let _main = timeline::span("main");
    let mut child = Process::new(work).with_daemon(daemon);
    child.start()?;
    sleep(Duration::from_millis(250));
    println!("main: end of main (daemon={daemon})");
    timeline::mark("end of main");
    drop(child); // what the end of `main` does: joined, or terminated if it is a daemon
    Ok(())
}

fn work() {
    for i in 1..=10 {
        let _step = timeline::span(&format!("working {i}"));
        println!("child: working {i}/10");
        sleep(Duration::from_millis(100));
    }
    println!("child: finished");
}

/// Note 004's `g_list`: a global that each process has its own copy of.
static G_LIST: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn overview() -> io::Result<()> {
    // 1. No shared globals: the writer fills its copy; its sibling reads its own copy.
    let mut writer = Process::new(move || {
        let _writing = timeline::span("add_data");
        let mut list = G_LIST.lock().unwrap_or_else(PoisonError::into_inner);
        list.extend(0..3);
        println!("add_data: g_list={list:?}");
    });
    writer.start()?;
    writer.join()?; // the writer is done before the reader starts
    let mut reader = Process::new(move || {
        let _reading = timeline::span("read_data");
        let list = G_LIST.lock().unwrap_or_else(PoisonError::into_inner);
        println!("read_data: g_list={list:?}");
        assert!(list.is_empty(), "a sibling sees none of the writer's changes");
    });
    reader.start()?;
    let reader_code = reader.join()?;
    let here = G_LIST.lock().unwrap_or_else(PoisonError::into_inner).len();
    println!("main: g_list holds {here} items here");

    // 2. At exit: the non-daemon child is waited for, the daemon one is not.
    let non_daemon = run_self("non-daemon")?;
    let daemon = run_self("daemon")?;
    let last_lines = [non_daemon.last(), daemon.last()].map(|l| l.map_or("", String::as_str));

    // terminate() and kill() on children that would otherwise sleep for a minute.
    let mut victims = ["to terminate", "to kill"].map(|label| {
        Process::new(move || {
            let _sleeping = timeline::span(label);
            sleep_long();
        })
    });
    for victim in &mut victims {
        victim.start()?;
    }
    sleep(Duration::from_millis(50)); // so that they are seen running (in a timeline too)
    victims[0].terminate()?;
    timeline::mark("terminate()");
    victims[1].kill()?;
    timeline::mark("kill()");
    let codes = [victims[0].join()?, victims[1].join()?];
    println!("main: after terminate() exitcode={}", codes[0]);
    println!("main: after kill() exitcode={}", codes[1]);

    assert_eq!((reader_code, here), (0, 0));
    assert_eq!(last_lines, ["child: finished", "main: end of main (daemon=true)"]);
    assert_eq!(codes, [-15, -9]);
    println!("main: ok, the non-daemon child outlived main, the daemon did not");
    Ok(())
}

fn sleep_long() {
    sleep(Duration::from_secs(60));
}
