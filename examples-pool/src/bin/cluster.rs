//! Beyond the notes (where Python turns to Ray or Dask): their CPU-bound kernel on
//! timely-dataflow, in one process, in several, or on several machines over TCP.
//!
//! | Python (next step)                        | Rust (timely-dataflow)                      |
//! |-------------------------------------------|---------------------------------------------|
//! | `ray.init(address=...)`, a node per host  | a process per host: `-n P -p I -h hosts.txt --secret-file F` |
//! | `@ray.remote def part(lo, hi)`; `sum(ray.get(parts))` | a worker per thread (`-w W`); partial sums to worker 0 |
//!
//! Run: `cargo run --release -p examples-pool --bin cluster -- --local 2 -w 2` (two
//! processes of two workers on this machine, joined by socket pairs: no port is opened).
//! Across machines, with a secret both prove they know: `docs/cluster.md`.
//!
//! ```text
//! cluster: starting 2 processes, connected by socket pairs
//! sum of (i*i) mod 1000000007 for i in 0..30000000 = 14993334113544338
//! 2 process(es) x 2 worker(s): 0.020 s, of which 0.000 s connecting     <- times vary
//! ```
//!
//! Where it differs from `multiprocessing`: workers share only what the dataflow sends,
//! serialised. A peer that does not prove itself in time, or dies, ends the run.
//!
//! Copy it: `cargo new cluster`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add timely@0.32 --no-default-features
//! cargo add hmac@0.12
//! cargo add sha2@0.10 --no-default-features
//! cargo add rustix@1.1 --features rand
//! ```

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic;
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use examples_process::{die_with_parent, panic_message};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use timely::WorkerConfig;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::zero_copy::stream::Stream;
use timely::communication::{AllocatorBuilder, Hooks};
use timely::dataflow::InputHandle;
use timely::dataflow::operators::{Exchange, Input, Inspect};

const USAGE: &str = "usage: cluster [--n N] [-w THREADS] [--connect-timeout SECONDS] \
                     [--local K | -n PROCESSES -p INDEX (-h HOSTFILE | --peers A,B,..) \
                     (--secret-file FILE | --secret-stdin)]";
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
    /// This process's index, and how it reaches the others.
    process: usize,
    peers: Peers,
}

/// How this process reaches the others.
enum Peers {
    /// It is alone.
    None,
    /// Sockets already connected, one per other process (`--sockets`, from `--local`).
    Given(Vec<Option<RawFd>>),
    /// Addresses to listen on and connect to, and the secret every peer must prove.
    Network { addresses: Vec<String>, secret: Vec<u8> },
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

/// This process's part, after connecting to its peers.
fn run(options: &Options) -> Result<(), String> {
    end_on_any_panic(options.process);
    let started = Instant::now();
    match &options.peers {
        Peers::None => compute(options, Vec::<Option<UnixStream>>::new(), started),
        Peers::Given(fds) => {
            let sockets =
                fds.iter().map(|fd| fd.map(given_socket).transpose()).collect::<Result<_, _>>()?;
            compute(options, sockets, started)
        }
        Peers::Network { addresses, secret } => {
            let sockets = connect(options, addresses, secret)?;
            compute(options, sockets, started)
        }
    }
}

/// One process's part: its workers sum their shares; worker 0 gets every partial sum.
/// `sockets` has one connected socket per other process (`None` at this one's place),
/// or nothing when it runs alone.
fn compute<S: Stream + 'static>(
    options: &Options,
    sockets: Vec<Option<S>>,
    started: Instant,
) -> Result<(), String> {
    let (n, threads) = (options.n, options.threads);
    let processes = sockets.len().max(1);
    let hooks = Hooks::default();
    let local =
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, others): (Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>) =
        if sockets.is_empty() {
            (local.into_iter().map(AllocatorBuilder::Process).collect(), Box::new(()))
        } else {
            let (builders, guard) =
                initialize_networking_from_sockets(local, sockets, options.process, threads, hooks)
                    .map_err(|e| format!("cannot start timely's network threads: {e}"))?;
            (builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Box::new(guard))
        };
    let connecting = started.elapsed(); // every peer is connected by now
    let guards =
        timely::execute::execute_from(builders, others, WorkerConfig::default(), move |worker| {
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
            (index == 0).then(|| (received.get(), peers))
        })?;
    for result in guards.join() {
        if let Some(((sum, count), peers)) = result? {
            assert_eq!(count, peers, "worker 0 received one partial sum from every worker");
            println!("sum of (i*i) mod 1000000007 for i in 0..{n} = {sum}");
            println!(
                "{processes} process(es) x {threads} worker(s): {:.3} s, of which {:.3} s connecting",
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

/// A socket that `--local` handed over (inherited, at descriptor `fd`).
fn given_socket(fd: RawFd) -> Result<UnixStream, String> {
    // SAFETY: borrowed only for `fcntl(F_GETFD)`, which asks whether it is open.
    if rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(fd) }).is_err() {
        return Err(format!("--sockets: descriptor {fd} is not open"));
    }
    // SAFETY: open (checked above), handed to this process by its launcher for it to
    // own, and named once on the command line.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    match rustix::net::sockopt::socket_type(&fd) {
        Ok(rustix::net::SocketType::STREAM) => Ok(UnixStream::from(fd)),
        _ => Err(format!("--sockets: descriptor {} is not a stream socket", fd.as_raw_fd())),
    }
}

// ---- across machines: connect, and prove to each other that we know the secret ----

/// The first bytes of every handshake, and what a proof is made over besides.
const MAGIC: &[u8; 8] = b"cluster1";

/// How long a peer has to say who it is and prove it.
const HANDSHAKE: Duration = Duration::from_secs(2);

/// Connects to every other process: to the lower-numbered ones, and listens for the
/// higher ones (as timely does), each connection proven both ways before it counts. A
/// peer that cannot prove itself is dropped with one line; the others are waited for
/// until the deadline.
fn connect(
    options: &Options,
    addresses: &[String],
    secret: &[u8],
) -> Result<Vec<Option<TcpStream>>, String> {
    let (me, count) = (options.process, addresses.len());
    let deadline = Instant::now() + options.connect_timeout;
    // Only a process that higher-numbered ones connect to listens.
    let listener = if me + 1 < count {
        let listener = TcpListener::bind(&addresses[me])
            .map_err(|e| format!("process {me}: cannot listen on {}: {e}", addresses[me]))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        Some(listener)
    } else {
        None
    };
    let params = Params { processes: count as u64, n: options.n, threads: options.threads as u64 };
    let (proven, arrived) = mpsc::channel::<(usize, TcpStream)>();
    for (peer, address) in addresses.iter().enumerate().take(me) {
        let (proven, address, secret) = (proven.clone(), address.clone(), secret.to_vec());
        thread::spawn(move || {
            while Instant::now() < deadline {
                let Ok(stream) = TcpStream::connect(&address) else {
                    sleep(Duration::from_millis(20)); // not listening yet: soon again
                    continue;
                };
                match handshake(stream, me, Some(peer), count, &secret, params) {
                    Ok(pair) => return drop(proven.send(pair)),
                    Err(why) => eprintln!("cluster: process {me}: dropped {address}: {why}"),
                }
                sleep(Duration::from_millis(250));
            }
        });
    }
    let mut sockets: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    let mut missing = count - 1;
    while missing > 0 {
        if Instant::now() >= deadline {
            let waiting: Vec<&str> = (0..count)
                .filter(|&p| p != me && sockets[p].is_none())
                .map(|p| addresses[p].as_str())
                .collect();
            return Err(format!(
                "process {me}: not connected to every peer within {} s (still waiting for {})",
                options.connect_timeout.as_secs_f64(),
                waiting.join(", ")
            ));
        }
        while let Some(Ok((stream, from))) = listener.as_ref().map(TcpListener::accept) {
            let (proven, secret) = (proven.clone(), secret.to_vec());
            thread::spawn(move || match handshake(stream, me, None, count, &secret, params) {
                Ok(pair) => drop(proven.send(pair)),
                Err(why) => {
                    eprintln!("cluster: process {me}: dropped a connection from {from}: {why}")
                }
            });
        }
        while let Ok((peer, stream)) = arrived.recv_timeout(Duration::from_millis(5)) {
            if sockets[peer].is_some() {
                eprintln!("cluster: process {me}: dropped a second connection as process {peer}");
                continue;
            }
            sockets[peer] = Some(stream);
            missing -= 1;
        }
    }
    Ok(sockets)
}

/// What every process of a run must agree on, sent and proven in the handshake: a peer
/// started with another `--n` is refused rather than mixed into the sum.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Params {
    processes: u64,
    n: u64,
    threads: u64,
}

/// A hello: the magic, the sender's index, the parameters, a fresh random number.
const HELLO: usize = 8 + 8 + 24 + 32;

/// Says who we are and proves that we know the secret, and checks the same of the peer,
/// as the side that connected (`expected` is the process we dialled) or the side that
/// accepted (`expected` is `None`: any higher-numbered process). Nothing of timely's
/// goes over the connection before both proofs are checked.
fn handshake(
    mut stream: TcpStream,
    me: usize,
    expected: Option<usize>,
    count: usize,
    secret: &[u8],
    params: Params,
) -> Result<(usize, TcpStream), String> {
    let io = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "it said nothing in time".to_string()
        }
        io::ErrorKind::UnexpectedEof => "it hung up (it refused our proof?)".to_string(),
        _ => e.to_string(),
    };
    stream.set_read_timeout(Some(HANDSHAKE)).map_err(io)?;
    stream.set_write_timeout(Some(HANDSHAKE)).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let mut nonce = [0_u8; 32];
    rustix::rand::getrandom(&mut nonce, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| e.to_string())?;
    let mine = hello(me, params, &nonce);
    let mut theirs = [0_u8; HELLO];
    let peer = if let Some(peer) = expected {
        stream.write_all(&mine).map_err(io)?;
        stream.read_exact(&mut theirs).map_err(io)?;
        check_hello(&theirs, peer..=peer, params)?;
        let mut tag = [0_u8; 32];
        stream.read_exact(&mut tag).map_err(io)?;
        proof(secret, b"acceptor", &theirs, &mine)
            .verify_slice(&tag)
            .map_err(|_| "it does not know the secret".to_string())?;
        let tag = proof(secret, b"connector", &theirs, &mine).finalize().into_bytes();
        stream.write_all(&tag).map_err(io)?;
        peer
    } else {
        stream.read_exact(&mut theirs).map_err(io)?;
        let peer = check_hello(&theirs, me + 1..=count - 1, params)?;
        let tag = proof(secret, b"acceptor", &mine, &theirs).finalize().into_bytes();
        stream.write_all(&mine).and_then(|()| stream.write_all(&tag)).map_err(io)?;
        let mut tag = [0_u8; 32];
        stream.read_exact(&mut tag).map_err(io)?;
        proof(secret, b"connector", &mine, &theirs)
            .verify_slice(&tag)
            .map_err(|_| "it does not know the secret".to_string())?;
        peer
    };
    stream.set_read_timeout(None).map_err(io)?;
    stream.set_write_timeout(None).map_err(io)?;
    Ok((peer, stream))
}

fn hello(me: usize, params: Params, nonce: &[u8; 32]) -> [u8; HELLO] {
    let mut hello = [0_u8; HELLO];
    hello[..8].copy_from_slice(MAGIC);
    for (k, value) in
        [me as u64, params.processes, params.n, params.threads].into_iter().enumerate()
    {
        hello[8 + 8 * k..16 + 8 * k].copy_from_slice(&value.to_be_bytes());
    }
    hello[40..].copy_from_slice(nonce);
    hello
}

/// Checks a peer's hello: ours, from a process in `allowed`, with our parameters.
/// Returns its index.
fn check_hello(
    hello: &[u8; HELLO],
    allowed: std::ops::RangeInclusive<usize>,
    params: Params,
) -> Result<usize, String> {
    let word =
        |k: usize| u64::from_be_bytes(hello[8 + 8 * k..16 + 8 * k].try_into().expect("8 bytes"));
    if &hello[..8] != MAGIC {
        return Err("it does not speak this program's handshake".into());
    }
    let index = usize::try_from(word(0)).ok().filter(|i| allowed.contains(i));
    let index =
        index.ok_or_else(|| format!("it says it is process {}, not one expected here", word(0)))?;
    let theirs = Params { processes: word(1), n: word(2), threads: word(3) };
    if theirs != params {
        return Err(format!(
            "it runs with -n {} --n {} -w {}, this process with -n {} --n {} -w {}",
            theirs.processes, theirs.n, theirs.threads, params.processes, params.n, params.threads
        ));
    }
    Ok(index)
}

/// HMAC-SHA-256 with the secret, over a label (who proves) and both hellos (both
/// random numbers, both indexes, the parameters).
fn proof(
    secret: &[u8],
    label: &[u8],
    acceptor: &[u8; HELLO],
    connector: &[u8; HELLO],
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.update(acceptor);
    mac.update(connector);
    mac
}

/// The secret, from a file only its owner can read or from standard input.
fn read_secret(source: &SecretSource) -> Result<Vec<u8>, String> {
    let mut text = Vec::new();
    match source {
        SecretSource::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| format!("--secret-file {path}: {e}"))?;
            let me = rustix::process::geteuid().as_raw();
            if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
                return Err(format!(
                    "--secret-file {path}: must be a file of yours that only you can read (chmod 600)"
                ));
            }
            let file =
                std::fs::File::open(path).map_err(|e| format!("--secret-file {path}: {e}"))?;
            file.take(4096).read_to_end(&mut text).map_err(|e| e.to_string())?;
        }
        SecretSource::Stdin => {
            io::stdin()
                .take(4096)
                .read_to_end(&mut text)
                .map_err(|e| format!("--secret-stdin: {e}"))?;
        }
    }
    while text.last().is_some_and(|b| b.is_ascii_whitespace()) {
        text.pop();
    }
    if text.len() < 16 {
        return Err("the secret must be at least 16 bytes".into());
    }
    Ok(text)
}

enum SecretSource {
    File(String),
    Stdin,
}

/// `--local K`: K processes of this program, each killed if this one dies, connected by
/// socket pairs made here before they start (no port, so nobody else can reach them).
/// Their standard error comes here: if one fails, the others are ended and one line says
/// what failed.
fn launch(k: usize, options: &Options) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    // ends[i][j]: process i's end of its connection to process j.
    let mut ends: Vec<Vec<Option<OwnedFd>>> =
        (0..k).map(|_| (0..k).map(|_| None).collect()).collect();
    for (i, j) in (0..k).flat_map(|i| (i + 1..k).map(move |j| (i, j))) {
        let (a, b) = UnixStream::pair().map_err(|e| format!("cannot make a socket pair: {e}"))?;
        (ends[i][j], ends[j][i]) = (Some(a.into()), Some(b.into()));
    }
    println!("cluster: starting {k} processes, connected by socket pairs");
    let mut children = Vec::new();
    for (process, mine) in ends.iter().enumerate() {
        let fds: Vec<RawFd> = mine.iter().flatten().map(AsRawFd::as_raw_fd).collect();
        let list: Vec<String> = mine
            .iter()
            .map(|fd| fd.as_ref().map_or("-".into(), |fd| fd.as_raw_fd().to_string()))
            .collect();
        let mut command = Command::new(&exe);
        command.args(["--n", &options.n.to_string(), "-w", &options.threads.to_string()]);
        command.args(["--sockets", &list.join(",")]);
        command.stdin(Stdio::null()).stderr(Stdio::piped());
        // SAFETY: runs in the forked child before `exec`: `fcntl` on descriptors this
        // process owns (its own ends stay open across `exec`; the others close).
        unsafe {
            command.pre_exec(move || {
                for &fd in &fds {
                    let fd = BorrowedFd::borrow_raw(fd);
                    rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())?;
                }
                Ok(())
            })
        };
        match die_with_parent(&mut command).and_then(Command::spawn) {
            Ok(child) => children.push(Member::new(process, child)),
            Err(e) => {
                children.iter_mut().for_each(Member::end);
                return Err(format!("cannot start process {process}: {e}"));
            }
        }
    }
    drop(ends); // the processes have theirs: a process that dies closes its ends
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

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        n: DEFAULT_N,
        threads: 1,
        connect_timeout: Duration::from_secs(10),
        local: None,
        process: 0,
        peers: Peers::None,
    };
    let (mut processes, mut process, mut hostfile, mut peers) = (None, None, None, None);
    let (mut secret, mut sockets) = (None, None);
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
            "--peers" => peers = Some(value()?.clone()),
            "--secret-file" => secret = Some(SecretSource::File(value()?.clone())),
            "--secret-stdin" => secret = Some(SecretSource::Stdin),
            "--sockets" => sockets = Some(value()?.clone()), // what --local gives its processes
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
    let network = processes.is_some() || process.is_some() || hostfile.is_some() || peers.is_some();
    if options.local.is_some() {
        if network || sockets.is_some() || secret.is_some() {
            return Err("--local chooses the processes and connects them itself".into());
        }
        return Ok(options);
    }
    if let Some(list) = sockets {
        if network || secret.is_some() {
            return Err("--sockets comes from --local alone".into());
        }
        let fds = list
            .split(',')
            .map(|fd| match fd {
                "-" => Ok(None),
                fd => fd.parse::<RawFd>().map(Some).map_err(|_| format!("--sockets: {fd:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        options.process = fds.iter().position(Option::is_none).ok_or("--sockets: no \"-\"")?;
        options.peers = Peers::Given(fds);
        return Ok(options);
    }
    let addresses = match (hostfile, peers) {
        (Some(_), Some(_)) => return Err("-h and --peers name the processes twice".into()),
        (Some(file), None) => read_hostfile(&file, processes.unwrap_or(1))?,
        (None, Some(list)) => list.split(',').map(str::to_owned).collect(),
        (None, None) => {
            // As timely does without a host file: ports from 2101 on this machine.
            (0..processes.unwrap_or(1)).map(|i| format!("localhost:{}", 2101 + i)).collect()
        }
    };
    if let Some(n) = processes
        && n != addresses.len()
    {
        return Err(format!("-n {n} but {} addresses", addresses.len()));
    }
    for address in &addresses {
        check_address(address)?;
    }
    options.process = process.unwrap_or(0);
    if options.process >= addresses.len() {
        return Err(format!(
            "-p {}: out of range for {} process(es) (0 to {})",
            options.process,
            addresses.len(),
            addresses.len() - 1
        ));
    }
    if addresses.len() > 1 {
        let source = secret.ok_or(
            "processes that connect over the network need a secret: --secret-file FILE \
             (readable by you alone) or --secret-stdin",
        )?;
        options.peers = Peers::Network { addresses, secret: read_secret(&source)? };
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
