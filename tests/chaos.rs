//! Chaos: each scenario runs a few processes that use one of the libraries' shared
//! objects (the `Queue`, a `JoinableQueue`, the manager's lock and condition, the
//! process-shared `RLock`, `Condition` and `Event`, the ring, the pool), and at a random
//! moment one of them is killed (SIGKILL), terminated (SIGTERM) or stopped for a while
//! (SIGSTOP, then SIGCONT). Then every process must end within a bound, every item
//! acknowledged as delivered must have been delivered once, and every failure must be an
//! error that says what died, never a wait.
//!
//! Each case (a scenario and a seed) runs in a process of its own, with a bound. A
//! failing case prints its seed, to replay it alone:
//!
//! ```text
//! cargo test -p examples-pool --test chaos                      # the fixed seeds
//! CHAOS_SEEDS=200 cargo test -p examples-pool --test chaos      # seeds 1 to 200
//! CHAOS_SEEDS=17 cargo test -p examples-pool --test chaos queue # seed 17 (17..17), the queue
//! ```
//! (`CHAOS_SEEDS` takes a count `N` for 1..=N, a range `A..B`, or a list `A,B,C`.)

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_ipc::manager::Manager;
use examples_ipc::queue::{JoinableQueue, Queue, QueueError};
use examples_ipc::ring::{self, RingError};
use examples_ipc::shared::SharedMemory;
use examples_ipc::sync::{Condition, Event, RLock};
use examples_pool::{Pool, PoolError};
use examples_process::Process;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a case may take, chaos included, before it counts as a hang.
const BOUND: Duration = Duration::from_secs(30);

/// How long a process of a scenario waits for anything before it gives up (and fails).
const PATIENCE: Duration = Duration::from_secs(10);

type Scenario = fn(u64);

const SCENARIOS: &[(&str, Scenario)] = &[
    ("queue", queue),
    ("joinable_queue", joinable_queue),
    ("manager", manager),
    ("shared_sync", shared_sync),
    ("ring", ring),
    ("pool", pool),
];

fn main() -> ExitCode {
    examples_process::main_guard(); // pool workers started with spawn run this again
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let seeds = match seeds() {
        Ok(seeds) => seeds,
        Err(e) => {
            eprintln!("chaos: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = Vec::new();
    let mut ran = 0;
    for &(name, scenario) in SCENARIOS.iter().filter(|(name, _)| name.contains(&filter)) {
        let started = Instant::now();
        for &seed in &seeds {
            ran += 1;
            if let Err(why) = run_case(scenario, seed) {
                println!("chaos: {name} seed {seed} FAILED: {why}");
                println!(
                    "  replay: CHAOS_SEEDS={seed} cargo test -p examples-pool --test chaos {name}"
                );
                failed.push(format!("{name} seed {seed}"));
            }
        }
        println!(
            "chaos: {name}: {} seeds in {:.1} s",
            seeds.len(),
            started.elapsed().as_secs_f64()
        );
    }
    println!("\nchaos: {ran} cases, {} failed", failed.len());
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The seeds to run: `CHAOS_SEEDS` (see the header), or a fixed few.
fn seeds() -> Result<Vec<u64>, String> {
    let Ok(text) = std::env::var("CHAOS_SEEDS") else { return Ok((1..=6).collect()) };
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| format!("bad CHAOS_SEEDS {text:?}"));
    if let Some((a, b)) = text.split_once("..") {
        return Ok((number(a)?..=number(b)?).collect());
    }
    if text.contains(',') {
        return text.split(',').map(number).collect();
    }
    let n = number(&text)?;
    Ok(if text.trim() == "0" { Vec::new() } else { (1..=n).collect() })
}

/// Runs one case in a process of its own; its children die with it.
fn run_case(scenario: Scenario, seed: u64) -> Result<(), String> {
    let mut case = Process::new(move || scenario(seed));
    case.start().map_err(|e| e.to_string())?;
    match case.join_timeout(BOUND) {
        Ok(Some(0)) => Ok(()),
        Ok(Some(code)) => Err(format!("ended with exit code {code}")),
        Ok(None) => {
            let _ = case.kill();
            let _ = case.join();
            Err(format!("still running after {BOUND:?}: a failure turned into a wait"))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A small deterministic generator (xorshift64*), so that a seed replays the same case.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What happened to the victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Killed,
    Terminated,
    Stopped,
}

/// After a random delay, does a random fault to one of `victims`. A stopped process is
/// continued after a random while. Returns the victim and the fault.
fn chaos(dice: &mut Dice, victims: &[i32], most_delay_ms: u64) -> (i32, Fault) {
    sleep(Duration::from_millis(dice.below(most_delay_ms)));
    let victim = victims[dice.below(victims.len() as u64) as usize];
    let pid = Pid::from_raw(victim);
    let fault = match dice.below(3) {
        0 => Fault::Killed,
        1 => Fault::Terminated,
        _ => Fault::Stopped,
    };
    match fault {
        Fault::Killed => drop(kill(pid, Signal::SIGKILL)),
        Fault::Terminated => drop(kill(pid, Signal::SIGTERM)),
        Fault::Stopped => {
            let _ = kill(pid, Signal::SIGSTOP);
            sleep(Duration::from_millis(dice.below(300)));
            let _ = kill(pid, Signal::SIGCONT);
        }
    }
    (victim, fault)
}

fn start(target: impl FnOnce() + Send + 'static) -> Process {
    let mut p = Process::new(target);
    p.start().expect("start");
    p
}

/// Joins every process within `PATIENCE` (it must have ended by then) and returns
/// the exit codes.
fn join_all(processes: &[Process]) -> Vec<i32> {
    processes
        .iter()
        .map(|p| {
            p.join_timeout(PATIENCE)
                .expect("join")
                .unwrap_or_else(|| panic!("{} did not end within {PATIENCE:?}", p.name()))
        })
        .collect()
}

const ITEMS: u32 = 400;
const PUTTERS: u32 = 2;
const GETTERS: u32 = 2;

/// Two putters and two getters on a bounded queue. Every item whose `put` returned Ok
/// arrives once, but for at most one per getter killed (taken, then lost with it); none
/// arrives twice; an item whose put failed (its getter died mid-item) may not arrive.
fn queue(seed: u64) {
    let mut dice = Dice::new(seed);
    let q = Queue::<(u32, u32, Vec<u8>)>::bounded(8).unwrap();
    // Per item: times put (acknowledged) and times delivered.
    let acked =
        SharedMemory::new([const { AtomicU32::new(0) }; (PUTTERS * ITEMS) as usize]).unwrap();
    let delivered =
        SharedMemory::new([const { AtomicU32::new(0) }; (PUTTERS * ITEMS) as usize]).unwrap();
    let putters_done = Event::shared().unwrap();
    let mut putters = Vec::new();
    for p in 0..PUTTERS {
        let (q, acked) = (q.clone(), acked.clone());
        let big = dice.below(4) == 0; // now and then, items longer than the ring
        putters.push(start(move || {
            for k in 0..ITEMS {
                let payload = if big && k % 100 == 0 {
                    vec![1; 1_300_000]
                } else {
                    vec![2; (k % 50) as usize]
                };
                match q.put_timeout((p, k, payload), PATIENCE) {
                    Ok(()) => {
                        acked[(p * ITEMS + k) as usize].fetch_add(1, SeqCst);
                    }
                    Err(QueueError::TakerDied) => {} // said what died: allowed
                    Err(e) => panic!("putter {p}: {e}"),
                }
            }
        }));
    }
    let mut getters = Vec::new();
    for _ in 0..GETTERS {
        let (q, delivered, putters_done) = (q.clone(), delivered.clone(), putters_done.clone());
        getters.push(start(move || {
            loop {
                match q.get_timeout(Duration::from_millis(200)) {
                    Ok((p, k, payload)) => {
                        assert!(
                            payload.iter().all(|&b| b == payload[0]),
                            "an item mixed with another"
                        );
                        delivered[(p * ITEMS + k) as usize].fetch_add(1, SeqCst);
                    }
                    Err(QueueError::Empty) if putters_done.is_set() => return,
                    Err(QueueError::Empty) => {}
                    Err(e) => panic!("getter: {e}"),
                }
            }
        }));
    }
    let victims: Vec<i32> = putters.iter().chain(&getters).filter_map(Process::pid).collect();
    let (victim, fault) = chaos(&mut dice, &victims, 150);
    join_all(&putters);
    putters_done.set();
    let codes = join_all(&getters);
    let getter_lost = getters.iter().zip(&codes).any(|(g, &c)| g.pid() == Some(victim) && c != 0);
    let putter_died = putters.iter().any(|p| p.pid() == Some(victim) && p.exitcode() != Some(0));
    let mut missing = 0;
    for i in 0..(PUTTERS * ITEMS) as usize {
        let (a, d) = (acked[i].load(SeqCst), delivered[i].load(SeqCst));
        assert!(d <= 1, "item {i} delivered {d} times ({fault:?} {victim})");
        if a == 1 && d == 0 {
            missing += 1;
        }
        // Delivered but not acknowledged: only a putter that died between its commit
        // and its count, or an item whose put the getter's death cut short.
        assert!(a == 1 || d == 0 || putter_died || getter_lost, "item {i} delivered unasked");
    }
    let allowed = u32::from(getter_lost);
    assert!(missing <= allowed, "{missing} acknowledged items lost ({fault:?} {victim})");
    // The queue goes on.
    q.put((0, 0, vec![])).unwrap();
    assert_eq!(q.get_timeout(PATIENCE).unwrap().0, 0);
}

/// A producer and two consumers of a `JoinableQueue`: `join` returns Ok once every item
/// is done, or fails naming a consumer that died holding items; it never waits for ever.
fn joinable_queue(seed: u64) {
    let mut dice = Dice::new(seed);
    let q = JoinableQueue::<u32>::unbounded().unwrap();
    let done = SharedMemory::new(AtomicU32::new(0)).unwrap();
    let mut consumers = Vec::new();
    for _ in 0..2 {
        let (q, done) = (q.clone(), done.clone());
        consumers.push(start(move || {
            while let Ok(item) = q.get_timeout(Duration::from_millis(500)) {
                sleep(Duration::from_micros(u64::from(item % 7) * 100));
                done.fetch_add(1, SeqCst);
                q.task_done().expect("task_done");
            }
        }));
    }
    for i in 0..300 {
        q.put(i).unwrap();
    }
    let victims: Vec<i32> = consumers.iter().filter_map(Process::pid).collect();
    let (victim, fault) = chaos(&mut dice, &victims, 100);
    let started = Instant::now();
    let joined = q.join();
    assert!(started.elapsed() < PATIENCE, "join took {:?}", started.elapsed());
    match joined {
        Ok(()) => assert_eq!(done.load(SeqCst), 300),
        Err(QueueError::Died { pid, .. }) => {
            assert_eq!(pid, victim, "the error names a process that did not die ({fault:?})");
        }
        Err(e) => panic!("{e}"),
    }
    join_all(&consumers);
}

/// Three clients take the manager's lock in turn and count under it; one is killed,
/// terminated or stopped. The lock is never held by two at once, the count is right
/// (give or take the one the victim was making), the lock is free at the end, and a
/// condition still wakes the waiters that are alive.
fn manager(seed: u64) {
    let mut dice = Dice::new(seed);
    let manager = Manager::start().unwrap();
    // [counter (read, then written: a second holder would lose counts), inside, counted]
    let shared = SharedMemory::new([const { AtomicU64::new(0) }; 3]).unwrap();
    let clients: Vec<Process> = (0..3)
        .map(|_| {
            let (proxy, shared) = (manager.proxy(), shared.clone());
            start(move || {
                for _ in 0..100 {
                    let _held = proxy.lock().expect("lock");
                    assert_eq!(shared[1].fetch_add(1, SeqCst), 0, "two holders at once");
                    let n = shared[0].load(SeqCst);
                    shared[0].store(n + 1, SeqCst);
                    shared[2].fetch_add(1, SeqCst);
                    shared[1].fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    let victims: Vec<i32> = clients.iter().filter_map(Process::pid).collect();
    let (victim, fault) = chaos(&mut dice, &victims, 100);
    let codes = join_all(&clients);
    let killed = codes.iter().filter(|&&c| c != 0).count() as u64;
    let (counter, counted) = (shared[0].load(SeqCst), shared[2].load(SeqCst));
    assert!(
        counter >= counted && counter <= counted + killed,
        "{counter} vs {counted} ({fault:?} {victim})"
    );
    let proxy = manager.proxy();
    let free = spawn_lock_check(&manager);
    assert_eq!(free.join_timeout(PATIENCE).unwrap(), Some(0), "the lock stayed taken ({fault:?})");
    // A condition: two waiters, one of them the next victim; notify_all wakes the other.
    let condition = proxy.condition().unwrap();
    let waiters: Vec<Process> = (0..2)
        .map(|_| {
            let condition = condition.clone();
            start(move || {
                let mut held = condition.acquire().expect("acquire");
                held.wait().expect("wait");
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while condition.waiters().unwrap() < 2 {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(2));
    }
    let victims: Vec<i32> = waiters.iter().filter_map(Process::pid).collect();
    chaos(&mut dice, &victims, 20);
    condition.acquire().unwrap().notify_all().unwrap();
    join_all(&waiters);
}

fn spawn_lock_check(manager: &Manager) -> Process {
    let proxy = manager.proxy();
    start(move || drop(proxy.lock().expect("lock")))
}

/// Workers count under a process-shared `RLock` (taken twice, as reentrant), report
/// through a `Condition`, and the last one sets an `Event`; one of them is the victim.
/// The others finish, the counts add up, and the main process is never left waiting.
fn shared_sync(seed: u64) {
    let mut dice = Dice::new(seed);
    let rlock = RLock::shared().unwrap();
    let finished = Condition::shared(0_u32).unwrap();
    let all_done = Event::shared().unwrap();
    let counter = SharedMemory::new([AtomicU64::new(0), AtomicU64::new(0)]).unwrap();
    let workers: Vec<Process> = (0..3)
        .map(|_| {
            let (rlock, finished, all_done, counter) =
                (rlock.clone(), finished.clone(), all_done.clone(), counter.clone());
            start(move || {
                for _ in 0..200 {
                    let _outer = rlock.acquire().expect("acquire");
                    let _inner = rlock.acquire().expect("again: reentrant");
                    assert_eq!(counter[1].fetch_add(1, SeqCst), 0, "two holders at once");
                    counter[0].fetch_add(1, SeqCst);
                    counter[1].fetch_sub(1, SeqCst);
                }
                let mut n = finished.lock().expect("lock");
                *n += 1;
                n.notify_all();
                if *n == 3 {
                    all_done.set();
                }
            })
        })
        .collect();
    let victims: Vec<i32> = workers.iter().filter_map(Process::pid).collect();
    let (_, fault) = chaos(&mut dice, &victims, 100);
    let codes = join_all(&workers);
    let survivors = codes.iter().filter(|&&c| c == 0).count() as u32;
    let mut n = finished.lock().unwrap();
    assert!(n.wait_for(|n| *n >= survivors, Some(PATIENCE)).unwrap(), "{fault:?}");
    assert_eq!(all_done.is_set(), survivors == 3);
    drop(n);
    assert!(rlock.acquire_timeout(PATIENCE).unwrap().is_some(), "the RLock stayed taken");
    assert!(counter[0].load(SeqCst) >= u64::from(survivors) * 200);
}

/// A producer and a consumer on the ring; one is the victim. The consumer gets a prefix
/// of the sequence, in order, no value twice; whoever is left ends within its timeout.
fn ring(seed: u64) {
    let mut dice = Dice::new(seed);
    let (tx, rx) = ring::channel::<u64, 64>().unwrap();
    let seen = SharedMemory::new(AtomicU64::new(0)).unwrap();
    let producer = start(move || {
        for i in 0..200_000 {
            match tx.push_timeout(i, Duration::from_secs(2)) {
                Ok(()) => {}
                Err(RingError::Closed | RingError::Timeout) => return, // the consumer is gone
                Err(e) => panic!("{e}"),
            }
        }
    });
    let consumer = start({
        let seen = seen.clone();
        move || {
            let mut next = 0;
            loop {
                match rx.pop_timeout(Duration::from_secs(2)) {
                    Ok(i) => {
                        assert_eq!(i, next, "out of order or twice");
                        next += 1;
                        seen.store(next, SeqCst);
                    }
                    Err(RingError::Closed | RingError::Timeout) => return,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    });
    let victims = [producer.pid().unwrap(), consumer.pid().unwrap()];
    chaos(&mut dice, &victims, 50);
    let codes = join_all(&[producer, consumer]);
    assert!(codes.iter().all(|&c| c <= 0), "a panic (exit code 1): {codes:?}");
    assert!(seen.load(SeqCst) <= 200_000);
}

fn nap(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms));
    ms
}

fn square(x: u64) -> u64 {
    x * x
}

/// A pool of three mapping short tasks; one worker is the victim. `map` returns within
/// the bound, every result is right or the error names the worker's death, and the pool
/// goes on working.
fn pool(seed: u64) {
    let mut dice = Dice::new(seed);
    let pool = Pool::new(3).unwrap();
    let items: Vec<u64> = (0..60).map(|_| dice.below(8)).collect();
    let pending = pool.map_async(nap, items.clone()).unwrap();
    let victims = pool.worker_pids();
    let fault = chaos(&mut dice, &victims, 80).1;
    let started = Instant::now();
    match pending.get() {
        Ok(results) => assert_eq!(results, items),
        Err(PoolError::WorkerDied(code)) => assert!(code < 0, "{fault:?}: exit code {code}"),
        Err(e) => panic!("{fault:?}: {e}"),
    }
    assert!(started.elapsed() < PATIENCE);
    // The pool goes on. A task handed to the victim as it died fails, saying so; the
    // next call finds a new worker in its place.
    let squares = (0..10).map(square).collect::<Vec<_>>();
    match pool.map(square, 0..10) {
        Ok(results) => assert_eq!(results, squares),
        Err(PoolError::WorkerDied(code)) if code < 0 => {
            assert_eq!(pool.map(square, 0..10).unwrap(), squares, "{fault:?}");
        }
        Err(e) => panic!("{fault:?}: {e}"),
    }
}
