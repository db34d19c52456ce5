//! Note 004's daemon threads (`Thread(daemon=True)`) and "线程" point 2: main waits.
//!
//! | CPython                                        | Rust (std)                              |
//! |------------------------------------------------|-----------------------------------------|
//! | `Thread(target=show_info, daemon=True).start()` | `thread::spawn(show_info);` (handle dropped) |
//! | a normal thread: the interpreter waits for it  | keep the handle and `join()` it         |
//!
//! Run: `cargo run -p examples-thread --bin daemon_thread` (it runs itself both ways)
//!
//! ```text
//! daemon_thread daemon:
//!   | show_info: 1/3
//!   | show_info: 2/3
//!   | main: end of main's code      <- and the program ends: show_info is cut off
//! daemon_thread joined:
//!   | show_info: 1/3
//!   | show_info: 2/3
//!   | main: end of main's code
//!   | show_info: 3/3
//!   | show_info: finished
//! ```
//!
//! Where Rust differs: the default is the other way round: when `main` returns the
//! process exits, so every thread is a daemon unless it is joined (no daemon flag).
//!
//! Copy it: `cargo new daemon_thread`, put this file in as `src/main.rs`, then `cargo run`.
//!
//! ```sh
//! # std only: nothing to add
//! ```

use std::process::Command;
use std::thread::{self, sleep};
use std::time::Duration;

/// Works for 0.6 s; its lines fall 0.2 s apart, 0.1 s away from main's end at 0.3 s.
fn show_info() {
    for i in 1..=3 {
        println!("show_info: {i}/3");
        sleep(Duration::from_millis(200));
    }
    println!("show_info: finished");
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into()).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["daemon"] => {
            thread::spawn(show_info); // the handle is dropped: nobody waits for it
            sleep(Duration::from_millis(300));
            println!("main: end of main's code");
        }
        ["joined"] => {
            let t = thread::spawn(show_info);
            sleep(Duration::from_millis(300));
            println!("main: end of main's code");
            t.join().expect("show_info"); // what CPython does for a thread that is no daemon
        }
        [] => {
            // How a program ends is seen from outside: run it both ways.
            for way in ["daemon", "joined"] {
                let run = Command::new(std::env::current_exe()?).arg(way).output()?;
                assert!(run.status.success(), "daemon_thread {way}: {}", run.status);
                println!("daemon_thread {way}:");
                for line in String::from_utf8_lossy(&run.stdout).lines() {
                    println!("  | {line}");
                }
            }
        }
        _ => {
            eprintln!("daemon_thread: unexpected arguments {args:?}: daemon, joined or none");
            std::process::exit(2);
        }
    }
    Ok(())
}
