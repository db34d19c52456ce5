//! Beyond one machine: the notes' CPU-bound kernel on timely-dataflow, in one process or
//! in several, on one machine or on several.
//!
//! The notes stop where a Python program outgrows one machine (the next step there is
//! Ray or Dask). In Rust that step is an existing distributed engine: timely-dataflow
//! runs the same program as one process with several worker threads, or as several
//! processes on several machines, connected over TCP.
//!
//! | Python (next step)                          | Rust                                      |
//! |---------------------------------------------|-------------------------------------------|
//! | `ray.init(address=...)`, one node per host  | one process per host: `-n P -p I -h hosts.txt` |
//! | `@ray.remote def part(lo, hi)`, one per CPU | a timely worker per thread (`-w W`), each summing its share |
//! | `sum(ray.get(parts))`                       | the partial sums exchanged to worker 0    |
//!
//! Run on one machine, as two processes of two workers each (each started by this
//! program, tied to its life, on free ports of 127.0.0.1):
//!
//! `cargo run --release -p examples-pool --bin cluster -- --local 2 -w 2`
//!
//! On two machines, the same file `hosts.txt` on both, one `HOST:PORT` line per process
//! (line 1 for process 0, line 2 for process 1; each port must be open to the other
//! machine), then one command on each:
//!
//! ```text
//! machine-a$ cluster -w 2 -n 2 -p 0 -h hosts.txt
//! machine-b$ cluster -w 2 -n 2 -p 1 -h hosts.txt
//! ```
//!
//! `--peers HOST:PORT,HOST:PORT` names the processes on the command line instead of a
//! host file (what `--local` gives the processes it starts).
//!
//! Output: from process 0 only, the sum of (i·i) mod 1 000 000 007 for i below N (30 000
//! 000 by default, `--n N` to change it) and how long it took; timely's own lines
//! ("awaiting connections", "error connecting ... retrying") while the processes find
//! each other. The sum is always 14993334113544338 for the default N, whatever the
//! count of processes and workers; the time varies.
//!
//! When something fails: a malformed host file, a process index out of range or any
//! other bad argument is one line and exit code 2; a peer that cannot be reached within
//! `--connect-timeout` seconds (10 by default), or that dies mid-run, ends every
//! process with one line and exit code 1 (with `--local`, the launcher kills the rest).
//!
//! Where it differs from `multiprocessing`: workers share nothing but what the dataflow
//! sends, serialised, over sockets even between processes of one machine; starting
//! means connecting every pair of processes (up to a second of retries here). For one
//! machine, `gil_compare`'s processes are simpler and start faster; the gain is that
//! the same program runs on many machines.
//!
//! In your own program: timely-dataflow as here, or differential-dataflow above it; for
//! one machine, rayon.
//!
//! Copy it: `cargo new cluster`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add timely@0.32 --no-default-features
//! ```

use std::cell::Cell;
use std::io::{self, Read};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::panic;
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use examples_process::{die_with_parent, panic_message};
use timely::dataflow::InputHandle;
use timely::dataflow::operators::{Exchange, Input, Inspect};
use timely::{CommunicationConfig, Config, WorkerConfig};

const USAGE: &str = "usage: cluster [--n N] [--connect-timeout SECONDS] \
                     [--local K | -n PROCESSES -p INDEX (-h HOSTFILE | --peers A,B,..)] \
                     [-w THREADS]";
const DEFAULT_N: u64 = 30_000_000;
/// Above this, i·i no longer fits in a u64.
const MAX_N: u64 = 4_000_000_000;
const MAX_LOCAL: usize = 16;

/// What the command line asks for.
struct Options {
    n: u64,
    threads: usize,
    connect_timeout: Duration,
    /// `--local K`: start K processes of this program.
    local: Option<usize>,
    /// This process's index and every process's address (one process: empty).
    process: usize,
    addresses: Vec<String>,
}

fn main() -> ExitCode {
    examples_process::exit_on_stdout_failure();
    let args: Vec<String> =
        std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    if args.iter().any(|a| a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("cluster: {e}; {USAGE}");
            return ExitCode::from(2);
        }
    };
    let outcome = match options.local {
        Some(k) => launch(k, &options),
        None => run(&options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One process's part: its workers sum their shares; worker 0 gets every partial sum.
fn run(options: &Options) -> Result<(), String> {
    let (n, process, processes) = (options.n, options.process, options.addresses.len().max(1));
    let communication = if options.addresses.is_empty() {
        CommunicationConfig::Process(options.threads)
    } else {
        CommunicationConfig::Cluster {
            threads: options.threads,
            process,
            addresses: options.addresses.clone(),
            report: false,
            zerocopy: false,
        }
    };
    let config = Config { communication, worker: WorkerConfig::default() };

    // A failure never turns into a wait: timely retries an unreachable peer for ever,
    // and a peer that dies mid-run panics a thread of ours. Either ends the process.
    let connected = Arc::new(AtomicBool::new(false));
    end_on_any_panic(process);
    watch_connection(&connected, options.connect_timeout, process, &options.addresses);

    let started = Instant::now();
    let flag = Arc::clone(&connected);
    let guards = timely::execute(config, move |worker| {
        flag.store(true, Ordering::SeqCst);
        let connecting = started.elapsed(); // every peer is connected by now
        let (index, peers) = (worker.index() as u64, worker.peers() as u64);
        let received = Rc::new(Cell::new((0_u64, 0_u64))); // (sum, partial sums seen)
        let seen = Rc::clone(&received);
        let mut input = InputHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            scope
                .input_from(&mut input)
                .container::<Vec<u64>>()
                .exchange(|_| 0) // every partial sum to worker 0
                .inspect(move |partial| {
                    let (sum, count) = seen.get();
                    seen.set((sum + partial, count + 1));
                });
        });
        let (lo, hi) = (n * index / peers, n * (index + 1) / peers);
        input.send(kernel(lo, hi));
        drop(input); // no more input: the dataflow can finish
        while worker.step() {}
        (index == 0).then(|| (received.get(), peers, connecting))
    })?;
    for result in guards.join() {
        if let Some(((sum, count), peers, connecting)) = result? {
            assert_eq!(count, peers, "worker 0 received one partial sum from every worker");
            println!("sum of (i*i) mod 1000000007 for i in 0..{n} = {sum}");
            println!(
                "{processes} process(es) x {} worker(s): {:.3} s, of which {:.3} s connecting",
                options.threads,
                started.elapsed().as_secs_f64(),
                connecting.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// The kernel of `gil_compare`, over lo..hi.
fn kernel(lo: u64, hi: u64) -> u64 {
    (lo..hi).map(|i| (i * i) % 1_000_000_007).sum()
}

/// `--local K`: K processes of this program on free ports of 127.0.0.1, each killed if
/// this one dies. Their standard error comes here: if one fails, the others are ended
/// and one line says what failed.
fn launch(k: usize, options: &Options) -> Result<(), String> {
    let addresses = free_ports(k).map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    println!("cluster: starting {k} processes on {}", addresses.join(", "));
    let mut children = Vec::new();
    for process in 0..k {
        let mut command = Command::new(&exe);
        command.args(["--n", &options.n.to_string(), "-w", &options.threads.to_string()]);
        command.args(["--connect-timeout", &options.connect_timeout.as_secs_f64().to_string()]);
        command.args(["--peers", &addresses.join(","), "-p", &process.to_string()]);
        command.stderr(Stdio::piped());
        match die_with_parent(&mut command).and_then(Command::spawn) {
            Ok(child) => children.push(Member::new(process, child)),
            Err(e) => {
                children.iter_mut().for_each(Member::end);
                return Err(format!("cannot start process {process}: {e}"));
            }
        }
    }
    // Wait for all. After the first failure, give the others a moment to fail too (a
    // process killed by a signal is the cause; a peer that lost its connection to it
    // only follows), then end them and report every failure in one line.
    let mut failures: Vec<String> = Vec::new();
    let mut grace: Option<Instant> = None;
    while children.iter().any(Member::running) {
        for member in children.iter_mut().filter(|m| m.running()) {
            if let Some(failure) = member.poll() {
                failures.push(failure);
                grace.get_or_insert_with(|| Instant::now() + Duration::from_millis(200));
            }
        }
        if grace.is_some_and(|end| Instant::now() >= end) {
            children.iter_mut().for_each(Member::end);
        }
        sleep(Duration::from_millis(10));
    }
    if failures.is_empty() {
        return Ok(());
    }
    if failures.iter().any(|f| f.ends_with("was killed by signal 13")) {
        // SIGPIPE: whoever read our standard output has gone (`cluster | head -1`).
        // End as every example does then: quietly, killed by SIGPIPE, as `cat` is.
        examples_process::end_as_stdout_closed();
    }
    failures.sort_by_key(|f| !f.contains("signal")); // the killed ones first
    Err(format!("{}; ended the others", failures.join("; ")))
}

/// A process started by `--local`, and the thread that reads its standard error.
struct Member {
    process: usize,
    child: Child,
    stderr: Option<thread::JoinHandle<String>>,
    done: bool,
}

impl Member {
    fn new(process: usize, mut child: Child) -> Member {
        let stderr = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                text
            })
        });
        Member { process, child, stderr, done: false }
    }

    fn running(&self) -> bool {
        !self.done
    }

    /// Whether it ended; if it failed, what failed.
    fn poll(&mut self) -> Option<String> {
        let status = match self.child.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => status,
            Err(e) => {
                self.end();
                return Some(format!("cannot wait for process {}: {e}", self.process));
            }
        };
        self.done = true;
        let said = self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default();
        let said = said.lines().last().unwrap_or("").trim_start_matches("cluster: ").to_owned();
        match (status.success(), status.signal()) {
            (true, _) => None,
            (false, Some(signal)) => {
                Some(format!("process {} was killed by signal {signal}", self.process))
            }
            (false, None) if said.is_empty() => {
                Some(format!("process {} failed ({status})", self.process))
            }
            (false, None) => Some(said),
        }
    }

    /// Kills it if it still runs, and reaps it.
    fn end(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.done = true;
        }
    }
}

/// K addresses on 127.0.0.1 that were free a moment ago (the kernel chose them).
fn free_ports(k: usize) -> io::Result<Vec<String>> {
    // All bound at once, so that no two are the same; released for the children.
    let listeners =
        (0..k).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.to_string())).collect()
}

/// Ends the process, with one line, when any thread panics: a worker whose peer died,
/// a network thread that lost its connection.
fn end_on_any_panic(process: usize) {
    let report = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let message = panic_message(info.payload()).unwrap_or("a thread panicked");
        if message.starts_with("failed printing to") {
            return report(info); // standard output failed: see exit_on_stdout_failure
        }
        eprintln!("cluster: process {process}: {message}");
        std::process::exit(1);
    }));
}

/// Ends the process, with one line, if its peers are not all connected in `timeout`.
fn watch_connection(
    connected: &Arc<AtomicBool>,
    timeout: Duration,
    process: usize,
    peers: &[String],
) {
    if peers.is_empty() {
        return;
    }
    let connected = Arc::clone(connected);
    let peers = peers.join(", ");
    thread::spawn(move || {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if connected.load(Ordering::SeqCst) {
                return;
            }
            sleep(Duration::from_millis(50));
        }
        eprintln!(
            "cluster: process {process}: not connected to every peer within {} s ({peers})",
            timeout.as_secs_f64()
        );
        std::process::exit(1);
    });
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        n: DEFAULT_N,
        threads: 1,
        connect_timeout: Duration::from_secs(10),
        local: None,
        process: 0,
        addresses: Vec::new(),
    };
    let (mut processes, mut process, mut hostfile, mut peers) = (None, None, None, None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--n" => {
                let v = value()?;
                options.n = match v.replace('_', "").parse::<u64>() {
                    Ok(n @ 1..=MAX_N) => n,
                    _ => {
                        return Err(format!(
                            "N must be a whole number from 1 to {MAX_N}, not {v:?}"
                        ));
                    }
                };
            }
            "--local" => options.local = Some(count(value()?, "--local", MAX_LOCAL)?),
            "-w" | "--threads" => options.threads = count(value()?, "-w", 64)?,
            "-n" | "--processes" => processes = Some(count(value()?, "-n", 1024)?),
            "-p" | "--process" => {
                let v = value()?;
                process = Some(v.parse::<usize>().map_err(|_| format!("-p: not an index: {v:?}"))?);
            }
            "-h" | "--hostfile" => hostfile = Some(value()?.clone()),
            "--peers" => peers = Some(value()?.clone()), // what --local gives its processes
            "--connect-timeout" => {
                let v = value()?;
                let seconds = v.parse::<f64>().ok().filter(|s| (0.1..=3600.0).contains(s));
                let seconds = seconds
                    .ok_or_else(|| format!("--connect-timeout: 0.1 to 3600 seconds, not {v:?}"))?;
                options.connect_timeout = Duration::from_secs_f64(seconds);
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if options.local.is_some() {
        if processes.is_some() || process.is_some() || hostfile.is_some() || peers.is_some() {
            return Err("--local chooses the processes and their addresses itself".into());
        }
        return Ok(options);
    }
    options.addresses = match (hostfile, peers) {
        (Some(_), Some(_)) => return Err("-h and --peers name the processes twice".into()),
        (Some(file), None) => read_hostfile(&file, processes.unwrap_or(1))?,
        (None, Some(list)) => list.split(',').map(str::to_owned).collect(),
        (None, None) => {
            // As timely does without a host file: ports from 2101 on this machine.
            (0..processes.unwrap_or(1)).map(|i| format!("localhost:{}", 2101 + i)).collect()
        }
    };
    if let Some(n) = processes
        && n != options.addresses.len()
    {
        return Err(format!("-n {n} but {} addresses", options.addresses.len()));
    }
    for address in &options.addresses {
        check_address(address)?;
    }
    options.process = process.unwrap_or(0);
    if options.process >= options.addresses.len() {
        return Err(format!(
            "-p {}: out of range for {} process(es) (0 to {})",
            options.process,
            options.addresses.len(),
            options.addresses.len() - 1
        ));
    }
    if options.addresses.len() == 1 {
        options.addresses.clear(); // one process: no network
    }
    Ok(options)
}

fn count(text: &str, flag: &str, max: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(k @ 1..) if k <= max => Ok(k),
        _ => Err(format!("{flag}: a count from 1 to {max}, not {text:?}")),
    }
}

/// The first `processes` lines of a host file, each `HOST:PORT`.
fn read_hostfile(file: &str, processes: usize) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("-h {file}: {e}"))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(processes)
        .map(str::to_owned)
        .collect();
    if lines.len() < processes {
        return Err(format!("-h {file}: {} address(es) for {processes} process(es)", lines.len()));
    }
    Ok(lines)
}

fn check_address(address: &str) -> Result<(), String> {
    let port = address.rsplit_once(':').filter(|(host, _)| !host.is_empty()).map(|(_, port)| port);
    match port.map(str::parse::<u16>) {
        Some(Ok(1..)) => Ok(()),
        _ => Err(format!("{address:?} is not HOST:PORT")),
    }
}
