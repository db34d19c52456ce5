//! Note 000 "多线程" (`getName`, `setName`, `isAlive`, `join([time])`) and note 003
//! "线程的创建" (`is_alive`, `getName`), with CPython's thread names.
//!
//! | CPython                                   | Rust (`examples_thread`)                     |
//! |-------------------------------------------|----------------------------------------------|
//! | `t = Thread(target=download, args=("Venom",)); t.start()` | `let t = Thread::with_args(download, "Venom")?;` |
//! | `t.getName()` / `t.setName("x")` / `t.is_alive()` | `t.name()` / `t.set_name("x")` / `t.is_alive()` |
//! | `threading.active_count()`, `enumerate()` | `active_count()`, `enumerate()`              |
//! | `t.join(0.1)` / `t.join()`                | poll `t.is_alive()` for 0.1 s / `t.join()`   |
//!
//! Run: `cargo run -p examples-thread --bin thread_api`
//!
//! ```text
//! getName()=Thread-1 (download), is_alive()=true
//! after setName: active_count()=2, enumerate()=["MainThread", "downloader"]
//! join(0.1) returned after 0.10 s, is_alive()=true
//! downloader: Venom downloaded
//! join(): is_alive()=false, active_count()=1
//! ```
//!
//! Where Rust differs: std has thread names (`Builder::name`) but no list of running
//! threads: `active_count` and `enumerate` need this repository's `examples_thread`.
//! `join` has no timeout (poll `is_finished`). A `Thread` runs once it exists and `join`
//! consumes it: starting twice, self-joins or `Thread(group=...)` cannot be written.
//!
//! Copy it: `cargo new thread_api`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-thread --path $REPO/examples-thread --no-default-features
//! ```

use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_thread::{Thread, active_count, current_thread, enumerate};

fn download(film: &str) {
    sleep(Duration::from_millis(300));
    println!("{}: {film} downloaded", current_thread().name);
}

fn main() -> std::io::Result<()> {
    init();
    let t = Thread::with_args(download, "Venom")?;
    println!("getName()={}, is_alive()={}", t.name(), t.is_alive());
    t.set_name("downloader");
    let names: Vec<String> = enumerate().into_iter().map(|t| t.name).collect();
    println!("after setName: active_count()={}, enumerate()={names:?}", active_count());
    let asked = Instant::now();
    let gave_up = asked + Duration::from_millis(100); // join(0.1): wait at most 0.1 s
    while t.is_alive() && Instant::now() < gave_up {
        sleep(Duration::from_millis(1));
    }
    let alive = t.is_alive();
    println!("join(0.1) returned after {:.2} s, is_alive()={alive}", asked.elapsed().as_secs_f64());
    t.join();
    println!("join(): is_alive()=false, active_count()={}", active_count());
    assert!(alive, "the download takes 0.3 s");
    assert_eq!(active_count(), 1);
    Ok(())
}

/// Refuses arguments (a usage error, exit code 2), and makes a panic in any thread end
/// the program at once (exit code 101), so that no thread waits for one that failed.
fn init() {
    if let Some(arg) = std::env::args_os().nth(1) {
        eprintln!("{}: unexpected argument {arg:?}", env!("CARGO_BIN_NAME"));
        std::process::exit(2);
    }
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |panic| {
        report(panic);
        std::process::exit(101);
    }));
}
