//! This project's processes, queues, pipes and pool against Rust peers and the bare
//! system calls, in one program, on this machine: every workload on 2 CPUs and again
//! with the whole program pinned to one (`sched_setaffinity`, as `taskset -c 0`).
//!
//! Run from the repository's root (about 45 s here once built):
//!
//! ```sh
//! cargo run --release --manifest-path examples-pool/bench/peers/Cargo.toml
//! ```
//!
//! It prints a table and writes it, with a chart, to `examples-pool/bench/peers.md` and
//! `peers.svg` (`--no-write` prints only). Each figure is a median; each contender's
//! result (a sum, an echo count) is checked before its time counts. Contenders that a
//! goal compares are measured in turns.

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{self, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use examples_pool::{Pool, workloads};
use examples_process::svg;
use examples_process::{Process, StartMethod, stop_forkserver};
use ipmpsc::{Receiver, Sender, SharedRingBuffer};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::sys::resource::{UsageWho, getrusage};
use nix::unistd::Pid;
use rustix::net::{RecvAncillaryBuffer, RecvFlags, recvmsg};

type Error = Box<dyn std::error::Error>;

const ITEMS: u64 = 100_000;
const TRIPS: u64 = 10_000;
const TASKS: u64 = 10_000;
const REPEATS: usize = 5;
const STARTS: usize = 50;

// Rows the goals below are read from.
const RING: &str = "examples_ipc::ring (SPSC, shared memory)";
const QUEUE: &str = "examples_ipc::queue::Queue (MPMC, shared memory)";
const IPMPSC: &str = "ipmpsc (MPSC, shared memory)";
const CROSSBEAM: &str = "crossbeam bounded(1024), 2 threads";
const BARE_FORK: &str = "bare fork + waitpid";
const PROCESS_FORK: &str = "Process, fork";
const FAULTS: &str = "minor page faults per start + join";
const RAW_TRIP: &str = "raw socketpair, 8 bytes";
const PIPE_TRIP: &str = "connection::pipe()";
const POOL_START: &str = "starting a pool and closing it";
const POOL_1: &str = "examples_pool::Pool, chunksize 1";
const POOL_100: &str = "examples_pool::Pool, chunksize 100";
const CLUSTER: &str = "cluster: sum of squares, N = 30,000,000";
const CLUSTER_ONE: &str = "`cluster`, 1 process (wall time)";
const CLUSTER_LOCAL: &str = "`cluster --local 2` (wall time, launcher included)";
const CLUSTER_CONNECTING: &str = "`cluster --local 2`: of which connecting";
const RECVMSG_TRIP: &str = "raw socketpair, recvmsg with room for descriptors";

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
    let mut table = markdown(&rows);
    table.push_str(&goals(&rows));
    print!("{table}");
    if write {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::write(dir.join("peers.md"), &table)?;
        std::fs::write(dir.join("peers.svg"), chart(&rows))?;
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
    // The goals compare these three: measured in turns, as the starts below.
    let [ring, queue, ipmpsc] = in_turns(
        REPEATS,
        [
            &mut || timed_ms(sum, || Ok(workloads::ring_to_child(ITEMS)?.0)),
            &mut || timed_ms(sum, || Ok(workloads::queue_to_child(ITEMS)?.0)),
            &mut || timed_ms(sum, ipmpsc_queue),
        ],
    )?;
    m.push((q, RING, "ms", ring));
    m.push((q, QUEUE, "ms", queue));
    m.push((q, IPMPSC, "ms", ipmpsc));
    m.push((q, "ipc-channel (Unix socket)", "ms", median(|| timed_ms(sum, ipc_channel_queue))?));
    let process = workloads::start_and_join;
    // The goal is a ratio of these two: measured in turns, so that a busy moment of
    // the machine falls on both alike.
    let [bare, forked] = starts_in_turns(
        STARTS,
        [&mut micros(workloads::fork_and_waitpid), &mut micros(|| process(StartMethod::Fork))],
    )?;
    m.push((start, BARE_FORK, "µs", bare));
    m.push((start, PROCESS_FORK, "µs", forked));
    m.push((
        start,
        "Process, forkserver",
        "µs",
        starts(STARTS, || process(StartMethod::Forkserver))?,
    ));
    m.push((start, "Process, spawn", "µs", starts(STARTS, || process(StartMethod::Spawn))?));
    m.push((start, "procspawn (spawn)", "µs", starts(STARTS, procspawn_start)?));
    m.push((start, "Command of /bin/true", "µs", starts(STARTS, command_true)?));
    let [child, parent] = faults(workloads::fork_and_waitpid)?;
    m.push((FAULTS, "bare fork + waitpid: in the child", "", child));
    m.push((FAULTS, "bare fork + waitpid: in the parent", "", parent));
    let [child, parent] = faults(|| process(StartMethod::Fork))?;
    m.push((FAULTS, "Process, fork: in the child", "", child));
    m.push((FAULTS, "Process, fork: in the parent", "", parent));
    m.push((trip, RAW_TRIP, "µs", median(|| round_trips(workloads::socketpair_round_trips))?));
    m.push((trip, RECVMSG_TRIP, "µs", median(|| round_trips(raw_socketpair_recvmsg))?));
    m.push((trip, PIPE_TRIP, "µs", median(|| round_trips(workloads::pipe_round_trips))?));
    m.push((trip, "ipc-channel", "µs", median(|| round_trips(ipc_channel_trips))?));
    let tasks = TASKS * (TASKS - 1) / 2;
    m.push((
        POOL_START,
        "examples_pool::Pool(2), no task",
        "ms",
        median(|| timed_ms(0, pool_start))?,
    ));
    m.push((pool, POOL_1, "ms", median(|| timed_ms(tasks, || pool_map(1)))?));
    m.push((pool, POOL_100, "ms", median(|| timed_ms(tasks, || pool_map(100)))?));
    let (alone, local, connecting) = cluster_runs()?;
    m.push((CLUSTER, CLUSTER_ONE, "ms", alone));
    m.push((CLUSTER, CLUSTER_LOCAL, "ms", local));
    m.push((CLUSTER, CLUSTER_CONNECTING, "ms", connecting));
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
        ("100,000 u64 parent → child", CROSSBEAM, "ms", median(|| timed_ms(sum, crossbeam_queue))?),
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
    Ok(in_turns(REPEATS, [&mut run])?[0])
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
fn starts(n: usize, once: impl FnMut() -> io::Result<()>) -> Result<f64, Error> {
    Ok(starts_in_turns(n, [&mut micros(once)])?[0])
}

/// As [`starts`], for contenders taking turns (see [`in_turns`]).
fn starts_in_turns<const N: usize>(
    n: usize,
    mut runs: [&mut dyn FnMut() -> Result<f64, Error>; N],
) -> Result<[f64; N], Error> {
    for _ in 0..3 {
        for run in runs.iter_mut() {
            run()?;
        }
    }
    in_turns(n, runs)
}

/// `once`, timed: microseconds per run.
fn micros(mut once: impl FnMut() -> io::Result<()>) -> impl FnMut() -> Result<f64, Error> {
    move || {
        let started = Instant::now();
        once()?;
        Ok(started.elapsed().as_secs_f64() * 1e6)
    }
}

/// The medians of `repeats` runs of each contender, taking turns (one run of the
/// first, one of the second, ...): a busy stretch of the machine falls on all of them
/// alike, so their ratios, which the goals read, do not depend on when each ran.
fn in_turns<const N: usize>(
    repeats: usize,
    mut runs: [&mut dyn FnMut() -> Result<f64, Error>; N],
) -> Result<[f64; N], Error> {
    let mut values: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(repeats));
    for _ in 0..repeats {
        for (run, values) in runs.iter_mut().zip(&mut values) {
            values.push(run()?);
        }
    }
    Ok(values.map(|mut values| {
        values.sort_by(f64::total_cmp);
        values[repeats / 2]
    }))
}

/// Minor page faults per start + join of `once`, in the child and in the parent (the
/// copies made on first write after `fork`, mostly), over [`STARTS`] starts after 3
/// warm-ups.
fn faults(mut once: impl FnMut() -> io::Result<()>) -> Result<[f64; 2], Error> {
    let minor = |who| getrusage(who).map(|u| u.minor_page_faults() as f64);
    for _ in 0..3 {
        once()?;
    }
    let (child, parent) = (minor(UsageWho::RUSAGE_CHILDREN)?, minor(UsageWho::RUSAGE_SELF)?);
    for _ in 0..STARTS {
        once()?;
    }
    let per_start = |now: f64, then: f64| ((now - then) / STARTS as f64).round();
    let child = per_start(minor(UsageWho::RUSAGE_CHILDREN)?, child);
    let parent = per_start(minor(UsageWho::RUSAGE_SELF)?, parent);
    Ok([child, parent])
}

/// Microseconds per round trip of `TRIPS`, by a contender that returns the echoes' sum.
fn round_trips(run: fn(u64) -> io::Result<(u64, Duration)>) -> Result<f64, Error> {
    let (sum, took) = run(TRIPS)?;
    if sum != TRIPS * (TRIPS - 1) / 2 {
        return Err(format!("round trips echoed {sum}").into());
    }
    Ok(took.as_secs_f64() * 1e6 / TRIPS as f64)
}

// ---- queues ---------------------------------------------------------------------

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

fn procspawn_start() -> io::Result<()> {
    let echo: u64 = procspawn::spawn(7_u64, |x| x).join().map_err(io::Error::other)?;
    if echo != 7 { Err(io::Error::other("procspawn echoed wrong")) } else { Ok(()) }
}

fn command_true() -> io::Result<()> {
    let status = Command::new("/bin/true").status()?;
    if status.success() { Ok(()) } else { Err(io::Error::other(format!("/bin/true: {status}"))) }
}

// ---- round trips -----------------------------------------------------------------

/// As `workloads::socketpair_round_trips`, but reading as `Connection` must: with `recvmsg` and room for
/// descriptors that may come with the bytes (a plain `read` would drop them).
fn raw_socketpair_recvmsg(trips: u64) -> io::Result<(u64, Duration)> {
    fn read_word(stream: &UnixStream) -> io::Result<Option<[u8; 8]>> {
        let mut word = [0; 8];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            stream,
            &mut [IoSliceMut::new(&mut word)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        Ok((got.bytes == 8).then_some(word)) // one writer of 8-byte words: never split
    }
    let (here, there) = UnixStream::pair()?;
    let mut child = Process::new(move || {
        while let Ok(Some(word)) = read_word(&there) {
            if word == [0xff; 8] {
                break;
            }
            (&there).write_all(&word).expect("write");
        }
    });
    child.start()?;
    let result = workloads::round_trips(trips, |i| {
        (&here).write_all(&i.to_le_bytes())?;
        let word = read_word(&here)?.ok_or_else(|| io::Error::other("no echo"))?;
        Ok(u64::from_le_bytes(word))
    });
    (&here).write_all(&[0xff; 8])?;
    child.join()?;
    result
}

fn ipc_channel_trips(trips: u64) -> io::Result<(u64, Duration)> {
    let (to_child, from_parent) = ipc_channel::ipc::channel::<Option<u64>>()?;
    let (to_parent, from_child) = ipc_channel::ipc::channel::<u64>()?;
    let mut child = Process::new(move || {
        while let Ok(Some(x)) = from_parent.recv() {
            to_parent.send(x).expect("send");
        }
    });
    child.start()?;
    let result = workloads::round_trips(trips, |i| {
        to_child.send(Some(i)).map_err(io::Error::other)?;
        from_child.recv().map_err(io::Error::other)
    });
    to_child.send(None).map_err(io::Error::other)?;
    child.join()?;
    result
}

// ---- cluster ---------------------------------------------------------------------

/// Medians of [`REPEATS`] runs of the workspace's `cluster` (built first if need be):
/// alone, with `--local 2`, and the connecting time `--local 2` reports; milliseconds.
fn cluster_runs() -> Result<(f64, f64, f64), Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "examples-pool", "--bin", "cluster"])
        .current_dir(&root)
        .status()?;
    if !built.success() {
        return Err(format!("building cluster: {built}").into());
    }
    let binary = root.join("target/release/cluster");
    let run = |args: &[&str]| -> Result<(f64, f64), Error> {
        let started = Instant::now();
        let out = Command::new(&binary).args(args).output()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.contains("= 14993334113544338") {
            return Err(format!("cluster {args:?}: {}, printed {text:?}", out.status).into());
        }
        // "... of which 0.000 s connecting"
        let connecting = text
            .split("of which ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| format!("cluster {args:?} did not say its connecting time"))?;
        Ok((ms, connecting * 1e3))
    };
    let alone = median(|| Ok(run(&[])?.0))?;
    let mut runs = (0..REPEATS).map(|_| run(&["--local", "2"])).collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (local, _) = runs[REPEATS / 2];
    runs.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok((alone, local, runs[REPEATS / 2].1))
}

// ---- pools -----------------------------------------------------------------------

fn ident(x: u64) -> u64 {
    x
}

fn pool_start() -> Result<u64, Error> {
    Pool::new(2)?.close().join()?;
    Ok(0)
}

fn pool_map(chunksize: usize) -> Result<u64, Error> {
    let pool = Pool::new(2)?;
    let sum = pool.map_chunked(ident, (0..TASKS).collect(), chunksize)?.into_iter().sum();
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

/// The performance goals, read from the rows: each figure, and whether it is met.
/// A goal: what it says, the figures on 2 CPUs and on 1, their unit, the bound, which
/// columns it counts, and why where it is missed.
type Goal = (&'static str, [f64; 2], &'static str, f64, [bool; 2], String);

fn goals(rows: &[Row]) -> String {
    let row =
        |contender: &str| rows.iter().find(|r| r.contender == contender).expect("a measured row");
    let per_task = |r: &Row, start: &Row| {
        [(r.two - start.two) * 1e3 / TASKS as f64, (r.one - start.one) * 1e3 / TASKS as f64]
    };
    let ratio = |a: &Row, b: &Row| [a.two / b.two, a.one / b.one];
    let pool_start = rows.iter().find(|r| r.workload == POOL_START).expect("a measured row");
    let faults = |contender: &str| row(contender).two;
    let goals: [Goal; 8] = [
        (
            "Pool.map, chunksize 1, 2 workers: ≤ 1.0 µs per task (pool start taken off)",
            per_task(row(POOL_1), pool_start),
            " µs",
            1.0,
            [true, true],
            format!(
                "With chunksize 100 a task costs {} µs and {} µs: what is left is per \
                 message. A worker sends a map's results a batch at a time (they are \
                 wanted together) and is sent up to 256 tasks ahead; the parent and two \
                 workers share two CPUs.",
                figure(per_task(row(POOL_100), pool_start)[0]),
                figure(per_task(row(POOL_100), pool_start)[1]),
            ),
        ),
        (
            "process start + join (fork): ≤ 1.2× bare fork + waitpid (measured in turns)",
            ratio(row(PROCESS_FORK), row(BARE_FORK)),
            "×",
            1.2,
            [true, true],
            format!(
                "The time is the kernel's: `perf record` over 1,500 starts shows page \
                 faults (`exc_page_fault`, `clear_page_erms`, `filemap_map_pages`) and \
                 `fork`'s own copying at the top, no user code. Minor page faults per \
                 start (rows above): {} in the child and {} in the parent for `Process`, \
                 against {} and {} for the bare calls (32 and 12 before this round). What \
                 was taken out between `fork` and the target: the gate a child waits at \
                 when the parent has nothing to hand over, finding the executable's \
                 segments in the child, reading the environment at every start, \
                 allocating and freeing in the child (its identity is made in the parent \
                 before `fork`, and what it inherits of the parent's records is forgotten, \
                 not freed), writing thread-local flags that are already clear, flushing \
                 the unbuffered standard error. What is left: code pages the child runs \
                 for the first time (`fork` copies no page-table entries for the program's \
                 code), its first writes (its identity, the pid cache, the stack), the \
                 parent-death signal, the flush of standard output at exit, and the \
                 parent's record of the child; a bare child only calls `_exit`.",
                faults("Process, fork: in the child"),
                faults("Process, fork: in the parent"),
                faults("bare fork + waitpid: in the child"),
                faults("bare fork + waitpid: in the parent"),
            ),
        ),
        (
            "Queue, 100,000 u64 parent → child: ≤ 1.0× ipmpsc",
            ratio(row(QUEUE), row(IPMPSC)),
            "×",
            1.0,
            [true, true],
            "The Queue is many-to-many: every put and every get takes a robust \
             process-shared lock, so that a holder killed in the middle is an error and \
             not a queue stuck for ever; glibc's robust path (`__pthread_mutex_lock_full` \
             and `unlock_full`) is about 15% of the time on one CPU (`perf record`). \
             ipmpsc's one receiver takes no lock. This round a small item is serialised on \
             the stack instead of into a growing buffer, and the ring's copies inline \
             their usual case; on two CPUs the time also depends on whether a side falls \
             asleep and must be woken, which changes from run to run."
                .into(),
        ),
        (
            "ring on one CPU: ≤ 1.0× ipmpsc on one CPU",
            ratio(row(RING), row(IPMPSC)),
            "×",
            1.0,
            [false, true],
            "On one CPU a side that finds the ring full or empty yields a few times before \
             it sleeps; the time is the switches between the two processes."
                .into(),
        ),
        (
            "`cluster --local 2`: connecting ≤ 20 ms",
            [row(CLUSTER_CONNECTING).two, row(CLUSTER_CONNECTING).one],
            " ms",
            20.0,
            [true, true],
            "The launcher connects its processes by socket pairs before it starts them; \
             the time is what timely reports."
                .into(),
        ),
        (
            "`cluster --local 2`, whole run: ≤ 4× one process",
            ratio(row(CLUSTER_LOCAL), row(CLUSTER_ONE)),
            "×",
            4.0,
            [true, true],
            "Two processes to start, each a program that loads timely, and the launcher \
             waiting for both."
                .into(),
        ),
        (
            "ring on two CPUs: ≤ 1.3× crossbeam's channel between threads",
            ratio(row(RING), row(CROSSBEAM)),
            "×",
            1.3,
            [true, false],
            "On two CPUs this time depends on whether a side falls asleep and must be \
             woken (a futex wake, then a trip through the scheduler, often a millisecond \
             here), which changes from run to run on this machine: run the command again \
             to see how far the ratio moves."
                .into(),
        ),
        (
            "pipe round trip: ≤ 1.05× a raw socketpair",
            ratio(row(PIPE_TRIP), row(RAW_TRIP)),
            "×",
            1.05,
            [true, true],
            format!(
                "`Connection` reads with `recvmsg` and room for descriptors, because a \
                 plain `read` drops any descriptor sent with the bytes (`send_fd`). The \
                 raw socketpair reading the same way (\"recvmsg with room for \
                 descriptors\") takes {}× and {}× of the plain one, and `Connection` {}× \
                 and {}× of that. A connection that never carries descriptors could read \
                 with `read`.",
                figure(row(RECVMSG_TRIP).two / row(RAW_TRIP).two),
                figure(row(RECVMSG_TRIP).one / row(RAW_TRIP).one),
                figure(row(PIPE_TRIP).two / row(RECVMSG_TRIP).two),
                figure(row(PIPE_TRIP).one / row(RECVMSG_TRIP).one),
            ),
        ),
    ];
    let mut t = String::from(
        "\n## Goals\n\n| goal | 2 CPUs | 1 CPU (pinned) | met |\n|---|---:|---:|---|\n",
    );
    let mut missed = String::new();
    for (goal, figures, unit, bound, counts, why) in goals {
        let met = figures.iter().zip(counts).all(|(&f, counts)| !counts || f <= bound);
        let _ = writeln!(
            t,
            "| {goal} | {}{unit} | {}{unit} | {} |",
            figure(figures[0]),
            figure(figures[1]),
            if met { "yes" } else { "no" }
        );
        if !met {
            let _ = writeln!(missed, "- **{goal}**: {why}");
        }
    }
    if !missed.is_empty() {
        let _ = write!(t, "\nWhere a goal is missed, and why:\n\n{missed}");
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
/// CPUs and one for 1 CPU, under a heading per workload. Only times: the page-fault
/// counts stay in the table.
fn chart(rows: &[Row]) -> String {
    let times: Vec<&Row> = rows.iter().filter(|r| r.workload != FAULTS).collect();
    let best = |workload: &str, pick: fn(&Row) -> f64| {
        times
            .iter()
            .filter(|r| r.workload == workload)
            .map(|r| pick(r))
            .fold(f64::INFINITY, f64::min)
    };
    let mut groups: Vec<(Option<String>, Vec<svg::Row>)> = Vec::new();
    for r in &times {
        if groups.last().is_none_or(|(heading, _)| heading.as_deref() != Some(r.workload)) {
            groups.push((Some(r.workload.to_string()), Vec::new()));
        }
        let bars = vec![
            (r.two / best(r.workload, |r| r.two), 0),
            (r.one / best(r.workload, |r| r.one), 1),
        ];
        groups
            .last_mut()
            .expect("pushed above")
            .1
            .push(svg::Row { label: r.contender.to_string(), bars });
    }
    svg::log_bars(&svg::BarChart {
        title: "Time over the fastest in its workload (log scale; shorter is better)",
        legend: &[("#1f77b4", "2 CPUs"), ("#ff7f0e", "1 CPU (pinned)")],
        groups,
    })
}
