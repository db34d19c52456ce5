//! The notes' conclusions (000, 001 "5. GIL", 004 "进程与线程区别"), measured: CPU-bound
//! work serially, on 2 threads, on 2 threads under one global lock (a GIL), on 2
//! processes, a pool and rayon; IO-bound work on threads and processes; start costs.
//!
//! | CPython                                | Rust (`examples_pool::workloads`)           |
//! |----------------------------------------|---------------------------------------------|
//! | two `Thread`s, under the GIL           | `two_threads`; `with_global_lock` (a `Mutex` handed over every 5 ms) |
//! | `Process` ×2, `Pool(2).map`            | `two_processes`, `pool_of_two`              |
//!
//! Run: `cargo run --release -p examples-pool --bin gil_compare` (`-- --n N --timeline g.svg`)
//!
//! ```text
//! variant                                    result         ms  speedup   <- on 2 CPUs
//! serial                          14993334113544338       24.7    1.00x ########################
//! 2 threads                       14993334113544338       17.4    1.42x ##################################
//! 2 threads + GIL emulation       14993334113544338       32.1    0.77x ##################
//! 2 processes                     14993334113544338       17.9    1.38x #################################
//! ...                            <- then the pool, rayon, the IO-bound rows and start costs
//! ```
//!
//! Where Rust differs: no GIL: two threads compute at once, as two processes do; the GIL
//! row shows what one lock does to them. Times vary; a debug build's mean little.
//!
//! Copy it: `cargo new gil_compare`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-pool --path $REPO/examples-pool --no-default-features
//! cargo add examples-process --path $REPO/examples-process
//! cargo add rayon@1
//! ```

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use examples_pool::workloads;
use examples_process::Process;
use examples_process::timeline::{self, Timeline};
use rayon::prelude::*;

const DEFAULT_N: u64 = 30_000_000;
/// Above this, i·i no longer fits in a u64.
const MAX_N: u64 = 4_000_000_000;
const USAGE: &str =
    "usage: gil_compare [--n N] [--timeline FILE.svg]   (N from 1 to 4000000000; default 30000000)";

fn main() -> ExitCode {
    examples_process::exit_on_stdout_failure();
    // `args_os`, not `args`, which panics on an argument that is not UTF-8.
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let timeline = match timeline::take_flag(&mut args) {
        Ok(path) => path,
        Err(e) => return usage_error(&e),
    };
    let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let n = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => DEFAULT_N,
        ["--n", value] => match value.replace('_', "").parse::<u64>() {
            Ok(n @ 1..=MAX_N) => n,
            _ => {
                return usage_error(&format!(
                    "N must be a whole number from 1 to {MAX_N}, not {value:?}"
                ));
            }
        },
        ["-h" | "--help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => return usage_error(&format!("unexpected arguments {args:?}")),
    };
    match Timeline::for_flag(timeline).map_err(Into::into).and_then(|t| compare(n, t)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gil_compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(what: &str) -> ExitCode {
    eprintln!("gil_compare: {what}; {USAGE}");
    ExitCode::from(2)
}

struct Row {
    name: &'static str,
    result: u64,
    took: Duration,
}

/// How many times each CPU-bound variant runs; its row shows the median. One run can
/// land on a busy moment of the machine and swap two rows.
const RUNS: usize = 5;

/// Runs `run` [`RUNS`] times; the row has the median time, and the result, which every
/// run must have computed alike.
fn median_of(name: &'static str, run: impl Fn() -> io::Result<u64>) -> io::Result<Row> {
    let mut rows = (0..RUNS).map(|_| timed(name, &run)).collect::<io::Result<Vec<Row>>>()?;
    if rows.iter().any(|r| r.result != rows[0].result) {
        return Err(io::Error::other(format!("{name}: the runs computed different sums")));
    }
    rows.sort_by_key(|r| r.took);
    Ok(rows.swap_remove(RUNS / 2))
}

fn timed(name: &'static str, run: impl FnOnce() -> io::Result<u64>) -> io::Result<Row> {
    let start = Instant::now();
    let result = run()?;
    Ok(Row { name, result, took: start.elapsed() })
}

fn compare(n: u64, timeline: Timeline) -> Result<(), Box<dyn std::error::Error>> {
    if cfg!(debug_assertions) {
        println!("note: a debug build: its times mean little; run with --release");
    }
    let halves = workloads::halves(n);
    println!(
        "CPU-bound: sum of (i*i) mod 1000000007 for i in 0..{n}, on {} CPUs",
        thread::available_parallelism()?
    );
    let mut cpu = vec![median_of("serial", || Ok(workloads::kernel((0, n))))?];
    cpu.push(median_of("2 threads", || Ok(workloads::two_threads(halves)))?);
    cpu.push(median_of("2 threads + GIL emulation", || Ok(workloads::with_global_lock(halves)))?);
    cpu.push(median_of("2 processes", || workloads::two_processes(halves))?);
    cpu.push(median_of("process pool of 2", || workloads::pool_of_two(halves))?);
    if timeline.is_on() {
        // One more run of each, recorded (from here on), not timed.
        timeline.clone().install()?;
        draw_once(n)?;
    }
    let io = io_bound()?;
    let (process_cost, thread_cost) = start_costs()?;
    // Last: rayon's global pool keeps its threads, and nothing may fork after that.
    cpu.push(median_of("rayon (all CPUs)", || {
        Ok((0..n).into_par_iter().map(|i| (i * i) % 1_000_000_007).sum())
    })?);

    print_table(&cpu);
    println!();
    println!("IO-bound: 20 tasks that each sleep 100 ms");
    print_table(&io);
    println!();
    println!("start + join one process: {:.1} us (median of 50)", process_cost.as_secs_f64() * 1e6);
    println!("start + join one thread:  {:.1} us (median of 50)", thread_cost.as_secs_f64() * 1e6);

    let serial = cpu[0].result;
    assert!(cpu.iter().all(|r| r.result == serial), "every variant computes the same sum");
    assert!(io.iter().all(|r| r.result == 20), "every IO variant ran 20 tasks");
    println!("main: ok, every variant's result equals the serial one ({serial})");
    let title = "gil_compare: serial, 2 threads, 2 threads taking turns under a GIL, 2 processes";
    if let Some(path) = timeline.save(title)? {
        println!("main: timeline written to {}", path.display());
    }
    Ok(())
}

/// One run of each CPU-bound variant, one after the other, on the process's timeline:
/// the GIL emulation's threads take turns, the others run side by side.
fn draw_once(n: u64) -> io::Result<()> {
    let halves = workloads::halves(n);
    let serial = {
        let _computing = timeline::span("serial");
        workloads::kernel((0, n))
    };
    timeline::mark("2 threads");
    let threads = workloads::two_threads(halves);
    timeline::mark("2 threads + GIL");
    let gil = workloads::with_global_lock(halves);
    timeline::mark("2 processes");
    let processes = workloads::two_processes(halves)?;
    assert_eq!([threads, gil, processes], [serial; 3]);
    Ok(())
}

fn io_bound() -> io::Result<Vec<Row>> {
    Ok(vec![
        timed("serial", || Ok(workloads::naps_serially()))?,
        timed("20 threads", || Ok(workloads::naps_in_threads()))?,
        timed("20 processes", workloads::naps_in_processes)?,
    ])
}

/// Median time to start and join one child process, and one thread.
fn start_costs() -> io::Result<(Duration, Duration)> {
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let mut processes = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let mut p = Process::new(|| {});
        p.start()?;
        p.join()?;
        processes.push(start.elapsed());
    }
    let threads = (0..50)
        .map(|_| {
            let start = Instant::now();
            thread::spawn(|| {}).join().unwrap_or(());
            start.elapsed()
        })
        .collect();
    Ok((median(processes), median(threads)))
}

fn print_table(rows: &[Row]) {
    let serial = rows[0].took.as_secs_f64();
    let speedup = |row: &Row| serial / row.took.as_secs_f64().max(1e-9);
    let best = rows.iter().map(speedup).fold(1.0, f64::max);
    println!("{:<28} {:>20} {:>10} {:>8}", "variant", "result", "ms", "speedup");
    for row in rows {
        let speedup = speedup(row);
        // 40 characters for the fastest row of the table.
        let bar = "#".repeat((speedup / best * 40.0).round().max(1.0) as usize);
        println!(
            "{:<28} {:>20} {:>10.1} {:>7.2}x {bar}",
            row.name,
            row.result,
            row.took.as_secs_f64() * 1e3,
            speedup
        );
    }
}
