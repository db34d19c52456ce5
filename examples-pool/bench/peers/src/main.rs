//! This project's processes, queues, pipes and pool against Rust peers and the bare
//! system calls, in one program, on this machine: every workload on 2 CPUs and again
//! with the whole program pinned to one (`sched_setaffinity`, as `taskset -c 0`).
//!
//! Run from the repository's root (about two minutes):
//!
//! ```sh
//! cargo run --release --manifest-path examples-pool/bench/peers/Cargo.toml
//! ```
//!
//! It prints a table and writes it, with a chart, to `examples-pool/bench/peers.md` and
//! `peers.svg` (`--no-write` prints only). Each figure is a median; each contender's
//! result (a sum, an echo count) is checked before its time counts.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::Instant;

use examples_ipc::connection;
use examples_ipc::queue::Queue;
use examples_ipc::ring;
use examples_pool::Pool;
use examples_process::{Process, StartMethod, stop_forkserver};
use ipmpsc::{Receiver, Sender, SharedRingBuffer};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

type Error = Box<dyn std::error::Error>;

const ITEMS: u64 = 100_000;
const TRIPS: u64 = 10_000;
const TASKS: u64 = 10_000;
const REPEATS: usize = 5;
const STARTS: usize = 50;

fn main() -> ExitCode {
    // Children of spawn and forkserver, and procspawn's, run this program again.
    examples_process::main_guard();
    procspawn::init();
    let write = match std::env::args().nth(1).as_deref() {
        None => true,
        Some("--no-write") => false,
        Some(other) => {
            eprintln!("peers: unexpected argument {other:?}; usage: peers [--no-write]");
            return ExitCode::from(2);
        }
    };
    match run(write) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One contender's medians: on 2 CPUs and on 1.
struct Row {
    workload: &'static str,
    contender: &'static str,
    unit: &'static str,
    two: f64,
    one: f64,
}

fn run(write: bool) -> Result<(), Error> {
    let all = sched_getaffinity(Pid::from_raw(0))?;
    let mut one = CpuSet::new();
    one.set(0)?;
    let mut rows: Vec<Row> = Vec::new();
    let mut phases: Vec<Vec<(&'static str, &'static str, &'static str, f64)>> = Vec::new();
    for (label, cpus) in [("2 CPUs", &all), ("1 CPU", &one)] {
        println!("{label}: measuring ...");
        stop_forkserver(); // started again with this phase's CPUs
        sched_setaffinity(Pid::from_raw(0), cpus)?;
        phases.push(measure_processes()?);
    }
    // Threads last: once a thread pool has run, this program must not fork.
    for (i, cpus) in [&all, &one].into_iter().enumerate() {
        sched_setaffinity(Pid::from_raw(0), cpus)?;
        phases[i].extend(measure_threads()?);
    }
    sched_setaffinity(Pid::from_raw(0), &all)?;
    for (k, &(workload, contender, unit, two)) in phases[0].iter().enumerate() {
        rows.push(Row { workload, contender, unit, two, one: phases[1][k].3 });
    }
    // Each workload's rows together, in the order the workloads were first measured.
    let order: Vec<&str> = rows.iter().map(|r| r.workload).fold(Vec::new(), |mut seen, w| {
        if !seen.contains(&w) {
            seen.push(w);
        }
        seen
    });
    rows.sort_by_key(|r| order.iter().position(|&w| w == r.workload));
    let table = markdown(&rows);
    print!("{table}");
    if write {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::write(dir.join("peers.md"), &table)?;
        std::fs::write(dir.join("peers.svg"), svg(&rows))?;
        println!("wrote examples-pool/bench/peers.md and peers.svg");
    }
    Ok(())
}

type Measured = Vec<(&'static str, &'static str, &'static str, f64)>;

fn measure_processes() -> Result<Measured, Error> {
    let sum = ITEMS * (ITEMS - 1) / 2;
    let q = "100,000 u64 parent → child";
    let start = "process start + join";
    let trip = "round trip";
    let pool = "10,000 trivial tasks, 2 workers";
    let mut m: Measured = Vec::new();
    m.push((
        q,
        "examples_ipc::ring (SPSC, shared memory)",
        "ms",
        median(|| timed_ms(sum, ring_queue))?,
    ));
    m.push((
        q,
        "examples_ipc::queue::Queue (MPMC, shared memory)",
        "ms",
        median(|| timed_ms(sum, shm_queue))?,
    ));
    m.push((q, "ipmpsc (MPSC, shared memory)", "ms", median(|| timed_ms(sum, ipmpsc_queue))?));
    m.push((q, "ipc-channel (Unix socket)", "ms", median(|| timed_ms(sum, ipc_channel_queue))?));
    m.push((start, "bare fork + waitpid", "µs", starts(STARTS, bare_fork)?));
    m.push((start, "Process, fork", "µs", starts(STARTS, || process(StartMethod::Fork))?));
    m.push((
        start,
        "Process, forkserver",
        "µs",
        starts(STARTS, || process(StartMethod::Forkserver))?,
    ));
    m.push((start, "Process, spawn", "µs", starts(STARTS, || process(StartMethod::Spawn))?));
    m.push((start, "procspawn (spawn)", "µs", starts(STARTS, procspawn_start)?));
    m.push((start, "Command of /bin/true", "µs", starts(STARTS, command_true)?));
    m.push((trip, "raw socketpair, 8 bytes", "µs", median(|| round_trips(raw_socketpair))?));
    m.push((trip, "connection::pipe()", "µs", median(|| round_trips(connection_pipe))?));
    m.push((trip, "ipc-channel", "µs", median(|| round_trips(ipc_channel_trips))?));
    let tasks = TASKS * (TASKS - 1) / 2;
    m.push((pool, "examples_pool::Pool, chunksize 1", "ms", median(|| timed_ms(tasks, pool_map))?));
    m.push((
        pool,
        "procspawn::Pool, in batches of 200",
        "ms",
        median(|| timed_ms(tasks, procspawn_pool))?,
    ));
    Ok(m)
}

fn measure_threads() -> Result<Measured, Error> {
    let sum = ITEMS * (ITEMS - 1) / 2;
    let tasks = TASKS * (TASKS - 1) / 2;
    Ok(vec![
        (
            "100,000 u64 parent → child",
            "crossbeam bounded(1024), 2 threads",
            "ms",
            median(|| timed_ms(sum, crossbeam_queue))?,
        ),
        (
            "10,000 trivial tasks, 2 workers",
            "rayon, 2 threads",
            "ms",
            median(|| timed_ms(tasks, rayon_map))?,
        ),
    ])
}

/// The median of [`REPEATS`] runs.
fn median(mut run: impl FnMut() -> Result<f64, Error>) -> Result<f64, Error> {
    let mut values = (0..REPEATS).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    values.sort_by(f64::total_cmp);
    Ok(values[REPEATS / 2])
}

/// Milliseconds `run` took; its result must be `expected`.
fn timed_ms(expected: u64, run: impl FnOnce() -> Result<u64, Error>) -> Result<f64, Error> {
    let started = Instant::now();
    let got = run()?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if got != expected {
        return Err(format!("a contender computed {got}, not {expected}").into());
    }
    Ok(ms)
}

/// Median microseconds of `n` starts + joins after 3 warm-ups.
fn starts(n: usize, mut once: impl FnMut() -> Result<(), Error>) -> Result<f64, Error> {
    for _ in 0..3 {
        once()?;
    }
    let mut values = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        once()?;
        values.push(started.elapsed().as_secs_f64() * 1e6);
    }
    values.sort_by(f64::total_cmp);
    Ok(values[n / 2])
}

/// Microseconds per round trip of `TRIPS`, by a contender that returns the echoes' sum.
fn round_trips(run: fn(u64) -> Result<(u64, f64), Error>) -> Result<f64, Error> {
    let (sum, seconds) = run(TRIPS)?;
    if sum != TRIPS * (TRIPS - 1) / 2 {
        return Err(format!("round trips echoed {sum}").into());
    }
    Ok(seconds * 1e6 / TRIPS as f64)
}

// ---- queues ---------------------------------------------------------------------

fn ring_queue() -> Result<u64, Error> {
    let (tx, rx) = ring::channel::<u64, 1024>()?;
    let (sum_tx, sum_rx) = ring::channel::<u64, 1>()?;
    let mut child = Process::new(move || {
        let sum = (0..ITEMS).map(|_| rx.pop().expect("an item")).sum();
        sum_tx.push(sum).expect("the parent waits");
    });
    child.start()?;
    for i in 0..ITEMS {
        tx.push(i)?;
    }
    let sum = sum_rx.pop()?;
    child.join()?;
    Ok(sum)
}

fn shm_queue() -> Result<u64, Error> {
    let (q, back) = (Queue::<u64>::unbounded()?, Queue::<u64>::unbounded()?);
    let mut child = Process::new({
        let (q, back) = (q.clone(), back.clone());
        move || {
            let sum = (0..ITEMS).map(|_| q.get().expect("an item")).sum();
            back.put(sum).expect("the parent waits");
        }
    });
    child.start()?;
    for i in 0..ITEMS {
        q.put(i)?;
    }
    let sum = back.get()?;
    child.join()?;
    Ok(sum)
}

fn ipmpsc_queue() -> Result<u64, Error> {
    let (_there, items) = SharedRingBuffer::create_temp(1 << 20)?;
    let (_back, sums) = SharedRingBuffer::create_temp(4096)?;
    let mut child = Process::new({
        let (items, sums) = (items.clone(), sums.clone());
        move || {
            let rx = Receiver::new(items);
            let sum: u64 = (0..ITEMS).map(|_| rx.recv::<u64>().expect("an item")).sum();
            Sender::new(sums).send(&sum).expect("the parent waits");
        }
    });
    child.start()?;
    let tx = Sender::new(items);
    for i in 0..ITEMS {
        tx.send(&i)?;
    }
    let sum = Receiver::new(sums).recv::<u64>()?;
    child.join()?;
    Ok(sum)
}

fn ipc_channel_queue() -> Result<u64, Error> {
    let (tx, rx) = ipc_channel::ipc::channel::<u64>()?;
    let (sum_tx, sum_rx) = ipc_channel::ipc::channel::<u64>()?;
    let mut child = Process::new(move || {
        let sum = (0..ITEMS).map(|_| rx.recv().expect("an item")).sum();
        sum_tx.send(sum).expect("the parent waits");
    });
    child.start()?;
    for i in 0..ITEMS {
        tx.send(i)?;
    }
    let sum = sum_rx.recv()?;
    child.join()?;
    Ok(sum)
}

fn crossbeam_queue() -> Result<u64, Error> {
    let (tx, rx) = crossbeam::channel::bounded::<u64>(1024);
    let consumer = thread::spawn(move || (0..ITEMS).map(|_| rx.recv().expect("an item")).sum());
    for i in 0..ITEMS {
        tx.send(i)?;
    }
    consumer.join().map_err(|_| "the consumer thread panicked".into())
}

// ---- starting processes ----------------------------------------------------------

fn noop(_: ()) {}

fn process(method: StartMethod) -> Result<(), Error> {
    let mut p = Process::call(noop, ()).with_start_method(method);
    p.start()?;
    match p.join()? {
        0 => Ok(()),
        code => Err(format!("{method} child exited with {code}").into()),
    }
}

fn bare_fork() -> Result<(), Error> {
    // SAFETY: this program is single-threaded here; the child only calls `_exit`.
    match unsafe { fork() }? {
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            other => Err(format!("child ended with {other:?}").into()),
        },
    }
}

fn procspawn_start() -> Result<(), Error> {
    let echo: u64 = procspawn::spawn(7_u64, |x| x).join()?;
    if echo != 7 { Err("procspawn echoed wrong".into()) } else { Ok(()) }
}

fn command_true() -> Result<(), Error> {
    let status = Command::new("/bin/true").status()?;
    if status.success() { Ok(()) } else { Err(format!("/bin/true: {status}").into()) }
}

// ---- round trips -----------------------------------------------------------------

fn raw_socketpair(trips: u64) -> Result<(u64, f64), Error> {
    let (mut here, mut there) = UnixStream::pair()?;
    let mut child = Process::new(move || {
        let mut word = [0; 8];
        while there.read_exact(&mut word).is_ok() && word != [0xff; 8] {
            there.write_all(&word).expect("write");
        }
    });
    child.start()?;
    let mut trip = |i: u64| -> Result<u64, Error> {
        here.write_all(&i.to_le_bytes())?;
        let mut word = [0; 8];
        here.read_exact(&mut word)?;
        Ok(u64::from_le_bytes(word))
    };
    let result = timed_trips(trips, &mut trip);
    here.write_all(&[0xff; 8])?;
    child.join()?;
    result
}

fn connection_pipe(trips: u64) -> Result<(u64, f64), Error> {
    let (here, there) = connection::pipe()?;
    let mut child = Process::new(move || {
        while let Ok(Some(x)) = there.recv::<Option<u64>>() {
            there.send(&Some(x)).expect("send");
        }
    });
    child.start()?;
    let mut trip = |i: u64| -> Result<u64, Error> {
        here.send(&Some(i))?;
        here.recv::<Option<u64>>()?.ok_or_else(|| "no echo".into())
    };
    let result = timed_trips(trips, &mut trip);
    here.send(&None::<u64>)?;
    child.join()?;
    result
}

fn ipc_channel_trips(trips: u64) -> Result<(u64, f64), Error> {
    let (to_child, from_parent) = ipc_channel::ipc::channel::<Option<u64>>()?;
    let (to_parent, from_child) = ipc_channel::ipc::channel::<u64>()?;
    let mut child = Process::new(move || {
        while let Ok(Some(x)) = from_parent.recv() {
            to_parent.send(x).expect("send");
        }
    });
    child.start()?;
    let mut trip = |i: u64| -> Result<u64, Error> {
        to_child.send(Some(i))?;
        Ok(from_child.recv()?)
    };
    let result = timed_trips(trips, &mut trip);
    to_child.send(None)?;
    child.join()?;
    result
}

/// 100 warm-up trips, then `trips` timed ones: the echoes' sum and the seconds.
fn timed_trips(
    trips: u64,
    trip: &mut dyn FnMut(u64) -> Result<u64, Error>,
) -> Result<(u64, f64), Error> {
    for i in 0..100 {
        trip(i)?;
    }
    let started = Instant::now();
    let mut sum = 0;
    for i in 0..trips {
        sum += trip(i)?;
    }
    Ok((sum, started.elapsed().as_secs_f64()))
}

// ---- pools -----------------------------------------------------------------------

fn ident(x: u64) -> u64 {
    x
}

fn pool_map() -> Result<u64, Error> {
    let pool = Pool::new(2)?;
    let sum = pool.map_chunked(ident, (0..TASKS).collect(), 1)?.into_iter().sum();
    pool.close().join()?;
    Ok(sum)
}

fn procspawn_pool() -> Result<u64, Error> {
    let pool = procspawn::Pool::new(2)?;
    let mut sum = 0;
    // In batches: each waiting handle holds descriptors, and 10,000 at once run out.
    for batch in (0..TASKS).collect::<Vec<_>>().chunks(200) {
        let handles: Vec<_> = batch.iter().map(|&i| pool.spawn(i, |x| x)).collect();
        for handle in handles {
            sum += handle.join()?;
        }
    }
    pool.shutdown();
    Ok(sum)
}

fn rayon_map() -> Result<u64, Error> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build()?;
    Ok(pool.install(|| (0..TASKS).into_par_iter().map(black_box).sum()))
}

// ---- output ----------------------------------------------------------------------

fn markdown(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Rust peers, one run, medians ({REPEATS} runs; {STARTS} starts after 3 warm-ups)\n"
    );
    let _ = writeln!(t, "| workload | contender | 2 CPUs | 1 CPU (pinned) |");
    let _ = writeln!(t, "|---|---|---:|---:|");
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} {} | {} {} |",
            r.workload,
            r.contender,
            figure(r.two),
            r.unit,
            figure(r.one),
            r.unit
        );
    }
    t
}

fn figure(x: f64) -> String {
    match x.abs() {
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 10.0 => format!("{x:.1}"),
        a if a >= 1.0 => format!("{x:.2}"),
        _ => format!("{x:.3}"),
    }
}

/// Each contender's time over the fastest of its workload, on a log scale: a bar for 2
/// CPUs and one for 1 CPU, under a heading per workload.
fn svg(rows: &[Row]) -> String {
    let (label_w, plot_w, row_h, head_h, top) = (360.0, 440.0, 28.0, 24.0, 60.0);
    let workloads = rows.iter().map(|r| r.workload);
    let groups = workloads.fold(Vec::new(), |mut seen: Vec<&str>, w| {
        if !seen.contains(&w) {
            seen.push(w);
        }
        seen
    });
    let height = top + row_h * rows.len() as f64 + head_h * groups.len() as f64 + 40.0;
    let width = label_w + plot_w + 80.0;
    let x = |ratio: f64| label_w + plot_w * ratio.max(1.0).log10() / 4.0; // 1× to 10,000×
    let best = |workload: &str, pick: fn(&Row) -> f64| {
        rows.iter().filter(|r| r.workload == workload).map(pick).fold(f64::INFINITY, f64::min)
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">Time over the fastest in its workload (log scale; shorter is better)</text>"#
    );
    let _ = writeln!(
        out,
        r##"<rect x="10" y="32" width="12" height="10" fill="#1f77b4"/><text x="26" y="41">2 CPUs</text><rect x="90" y="32" width="12" height="10" fill="#ff7f0e"/><text x="106" y="41">1 CPU (pinned)</text>"##
    );
    for tick in [1.0, 10.0, 100.0, 1000.0, 10000.0] {
        let tx = x(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#bbb" stroke-dasharray="3,3"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{tick}×</text>"##,
            top - 6.0,
            height - 30.0,
            height - 14.0
        );
    }
    let mut y = top;
    let mut current = "";
    for r in rows {
        if r.workload != current {
            current = r.workload;
            let _ = writeln!(
                out,
                r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
                y + 16.0,
                escape(current)
            );
            y += head_h;
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + 16.0,
            escape(r.contender)
        );
        let bars = [
            (r.two, best(r.workload, |r| r.two), "#1f77b4"),
            (r.one, best(r.workload, |r| r.one), "#ff7f0e"),
        ];
        for (k, (value, fastest, colour)) in bars.into_iter().enumerate() {
            let ratio = value / fastest;
            let by = y + 3.0 + 11.0 * k as f64;
            let _ = writeln!(
                out,
                r#"<rect x="{label_w:.1}" y="{by:.1}" width="{:.1}" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="10">{:.1}×</text>"#,
                (x(ratio) - label_w).max(1.0),
                x(ratio) + 4.0,
                by + 9.0,
                ratio
            );
        }
        y += row_h;
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
