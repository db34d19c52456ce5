//! The `examples-pool` library's own tests: `Pool`'s promises across its worker
//! processes. Each test runs in a single-threaded process of its own (see
//! `harness::isolated`), so the pool may fork its workers.

use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

use examples_pool::{Pool, PoolError};
use examples_process::{StartMethod, current_process, stop_forkserver};
use harness::isolated::run_isolated;
use harness::isolated_tests;

fn main() -> ExitCode {
    // Workers started with spawn or forkserver run this program again: serve, not test.
    examples_process::main_guard();
    run_isolated(isolated_tests![
        apply_map_and_async_give_every_result,
        at_most_the_pool_size_run_at_once,
        get_timeout_leaves_the_task_running,
        a_panicking_task_fails_alone,
        a_dead_worker_fails_its_task_and_is_replaced,
        close_then_join_runs_every_queued_task,
        dropping_the_pool_ends_its_workers_at_once,
        a_pool_of_zero_is_refused,
        arguments_or_results_too_large_are_an_error,
        a_worker_holds_no_other_workers_channel,
        map_async_starmap_and_callbacks,
        imap_in_order_and_as_completed,
        terminate_ends_the_workers_at_once,
        every_start_method_runs_every_kind_of_call,
        the_pool_works_while_the_parent_does_not_call_it,
        tasks_behind_a_dead_worker_run_on_the_others,
        a_map_chunk_that_ends_its_worker_fails_the_map_once,
        a_result_waits_only_behind_its_own_call,
        a_failed_chunk_is_not_held_behind_the_next,
        a_threaded_program_replaces_dead_workers_with_spawn_and_forkserver,
        results_nobody_can_ask_for_are_not_kept,
        imap_gives_the_results_before_a_failing_input,
        a_callback_may_submit_more_work,
        a_worker_that_talks_nonsense_is_killed_and_its_task_fails,
        random_bytes_from_a_worker_never_hang_the_pool,
    ])
}

fn square(x: u64) -> u64 {
    x * x
}

/// When a task started and ended, on the system-wide monotonic clock, in microseconds.
fn timed_nap(ms: u64) -> (u64, u64) {
    let now = || {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
        t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000
    };
    let start = now();
    sleep(Duration::from_millis(ms));
    (start, now())
}

fn apply_map_and_async_give_every_result() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.apply(square, 7).unwrap(), 49);
    let pending: Vec<_> = (0..10).map(|x| pool.apply_async(square, x).unwrap()).collect();
    let got: Vec<u64> = pending.into_iter().map(|r| r.get().unwrap()).collect();
    assert_eq!(got, (0..10).map(square).collect::<Vec<_>>());
    assert_eq!(pool.map(square, 0..100).unwrap(), (0..100).map(square).collect::<Vec<_>>());
    assert_eq!(pool.map_chunked(square, (0..7).collect(), 1).unwrap(), [0, 1, 4, 9, 16, 25, 36]);
    assert_eq!(pool.map(square, Vec::new()).unwrap(), Vec::<u64>::new());
    pool.close().join().unwrap();
}

fn at_most_the_pool_size_run_at_once() {
    let pool = Pool::new(3).unwrap();
    let spans = pool.map_chunked(timed_nap, vec![30; 9], 1).unwrap();
    let mut events: Vec<(u64, i32)> =
        spans.iter().flat_map(|&(start, end)| [(start, 1), (end, -1)]).collect();
    events.sort(); // an end sorts before a start at the same instant
    let most = events.iter().scan(0, |now, &(_, step)| Some(*now + step).inspect(|n| *now = *n));
    assert!(most.max().unwrap() <= 3);
    // `apply` waits for each task: no two overlap.
    let serial: Vec<(u64, u64)> = (0..3).map(|_| pool.apply(timed_nap, 10).unwrap()).collect();
    assert!(serial.windows(2).all(|w| w[0].1 <= w[1].0));
}

fn get_timeout_leaves_the_task_running() {
    let pool = Pool::new(1).unwrap();
    let slow = pool.apply_async(timed_nap, 300).unwrap();
    assert!(matches!(slow.get_timeout(Duration::from_millis(20)), Err(PoolError::Timeout)));
    assert!(!slow.ready().unwrap());
    let (start, end) = slow.get_timeout(Duration::MAX).unwrap();
    assert!(end - start >= 300_000);
}

fn a_panicking_task_fails_alone() {
    fn fails(x: u64) -> u64 {
        std::panic::set_hook(Box::new(|_| {})); // quiet: the message is checked below
        assert!(x != 3, "three is refused");
        x
    }
    let pool = Pool::new(2).unwrap();
    let results: Vec<Result<u64, PoolError>> =
        (0..5).map(|x| pool.apply_async(fails, x).unwrap()).map(|r| r.get()).collect();
    for (x, result) in results.into_iter().enumerate() {
        match result {
            Err(PoolError::Panicked(message)) => {
                assert_eq!(x, 3);
                assert!(message.contains("three is refused"), "{message}");
            }
            other => assert_eq!(other.unwrap(), x as u64),
        }
    }
    assert_eq!(pool.apply(square, 4).unwrap(), 16, "the worker went on");
}

fn a_dead_worker_fails_its_task_and_is_replaced() {
    fn dies(_: ()) -> u64 {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
        unreachable!()
    }
    let pool = Pool::new(2).unwrap();
    let before = pool.worker_pids();
    assert!(matches!(pool.apply(dies, ()), Err(PoolError::WorkerDied(-9))));
    let after = pool.worker_pids();
    assert_eq!(after.len(), 2);
    assert_eq!(before.iter().filter(|p| after.contains(p)).count(), 1, "one replaced");
    assert_eq!(pool.map(square, 0..4).unwrap(), [0, 1, 4, 9]);
}

fn close_then_join_runs_every_queued_task() {
    let pool = Pool::new(2).unwrap();
    for _ in 0..6 {
        pool.apply_async(timed_nap, 20).unwrap(); // nobody asks for the results...
    }
    let started = Instant::now();
    pool.close().join().unwrap(); // ...and join still runs every task
    assert!(started.elapsed() >= Duration::from_millis(50), "6 tasks of 20 ms on 2 workers");
}

fn dropping_the_pool_ends_its_workers_at_once() {
    let pool = Pool::new(2).unwrap();
    pool.apply_async(timed_nap, 60_000).unwrap(); // a minute's task, never asked for
    let started = Instant::now();
    drop(pool); // terminate: the runner fails the test if a worker is left
    assert!(started.elapsed() < Duration::from_secs(10));
}

fn a_pool_of_zero_is_refused() {
    let err = Pool::new(0).err().expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

fn arguments_or_results_too_large_are_an_error() {
    fn length(bytes: Vec<u8>) -> usize {
        bytes.len()
    }
    fn huge(n: usize) -> Vec<u8> {
        vec![7; n]
    }
    let pool = Pool::new(1).unwrap();
    let too_big = examples_ipc::connection::MAX_MESSAGE + 1;
    assert!(matches!(pool.apply(length, vec![0; too_big]), Err(PoolError::TooLarge(_))));
    assert!(matches!(pool.apply(huge, too_big), Err(PoolError::TooLarge(_))));
    assert_eq!(pool.apply(length, vec![0; 1000]).unwrap(), 1000, "the pool goes on");
}

fn a_worker_holds_no_other_workers_channel() {
    fn sockets(_: ()) -> usize {
        let links = std::fs::read_dir("/proc/self/fd").unwrap().flatten();
        let targets = links.filter_map(|e| std::fs::read_link(e.path()).ok());
        targets.filter(|t| t.to_string_lossy().starts_with("socket:")).count()
    }
    let pool = Pool::new(3).unwrap();
    // Thirty tasks, one at a time per worker: every worker runs some.
    let counts = pool.map_chunked(sockets, vec![(); 30], 1).unwrap();
    assert!(counts.iter().all(|&n| n == 1), "each worker holds its own end only: {counts:?}");
}

fn add(a: u64, b: u64) -> u64 {
    a + b
}

/// Sleeps `ms` milliseconds, then returns them.
fn nap_for(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms));
    ms
}

fn map_async_starmap_and_callbacks() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let pool = Pool::new(2).unwrap();
    let pending = pool.map_async(square, 0..20).unwrap();
    assert_eq!(pending.get().unwrap(), (0..20).map(square).collect::<Vec<_>>());
    assert_eq!(pool.starmap(add, [(1, 2), (3, 4)]).unwrap(), [3, 7]);
    assert_eq!(pool.starmap_async(add, vec![(5, 5)]).unwrap().get().unwrap(), [10]);

    // callback sees the result; error_callback sees a failure; neither sees the other.
    let seen: Rc<RefCell<Vec<String>>> = Rc::default();
    let note = |what: &'static str| {
        let seen = Rc::clone(&seen);
        move |_: &dyn std::fmt::Debug| seen.borrow_mut().push(what.to_string())
    };
    let ok = pool
        .apply_async(square, 6)
        .unwrap()
        .callback({
            let note = note("ok callback");
            move |v: &u64| note(v)
        })
        .error_callback({
            let note = note("ok error_callback");
            move |e: &PoolError| note(e)
        });
    fn fails(_: ()) -> u64 {
        std::panic::set_hook(Box::new(|_| {}));
        panic!("on purpose")
    }
    let bad = pool.apply_async(fails, ()).unwrap().error_callback({
        let note = note("bad error_callback");
        move |e: &PoolError| note(e)
    });
    assert_eq!(ok.get().unwrap(), 36);
    assert!(matches!(bad.get(), Err(PoolError::Panicked(_))));
    assert_eq!(*seen.borrow(), ["ok callback", "bad error_callback"]);
}

fn imap_in_order_and_as_completed() {
    let pool = Pool::new(3).unwrap();
    // The first item is the slowest: imap waits for it; imap_unordered gives it last.
    let naps = [150, 10, 20];
    let ordered: Vec<u64> = pool.imap(nap_for, naps, 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(ordered, naps);
    let unordered: Vec<u64> =
        pool.imap_unordered(nap_for, naps, 1).unwrap().map(Result::unwrap).collect();
    assert_eq!(unordered.last(), Some(&150));
    let mut sorted = unordered.clone();
    sorted.sort();
    assert_eq!(sorted, [10, 20, 150]);
}

fn terminate_ends_the_workers_at_once() {
    let pool = Pool::new(2).unwrap();
    pool.apply_async(timed_nap, 60_000).unwrap();
    let pids = pool.worker_pids();
    let started = Instant::now();
    pool.terminate();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        pids.iter().all(|&p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_err())
    );
}

fn worker_name(_: ()) -> String {
    current_process().name
}

fn every_start_method_runs_every_kind_of_call() {
    for method in StartMethod::ALL {
        let pool = Pool::with_start_method(2, method).unwrap();
        assert_eq!(pool.apply(square, 7).unwrap(), 49, "{method}");
        assert_eq!(pool.map(square, 0..50).unwrap(), (0..50).map(square).collect::<Vec<_>>());
        let sums: Vec<u64> = pool.starmap(|a: u64, b: u64| a + b, [(1, 2), (3, 4)]).unwrap();
        assert_eq!(sums, [3, 7], "{method}");
        let prefix = match method {
            StartMethod::Fork => "ForkPoolWorker-",
            StartMethod::Spawn => "SpawnPoolWorker-",
            StartMethod::Forkserver => "ForkServerPoolWorker-",
        };
        let names = pool.map_chunked(worker_name, vec![(); 6], 1).unwrap();
        assert!(names.iter().all(|n| n.starts_with(prefix)), "{method}: {names:?}");
        pool.close().join().unwrap();
    }
    stop_forkserver();
}

/// Counts finished tasks where the parent can see them without a pool call.
static DONE: std::sync::OnceLock<examples_ipc::shared::SharedMemory<std::sync::atomic::AtomicU32>> =
    std::sync::OnceLock::new();

fn nap_and_count(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms));
    DONE.get().unwrap().fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ms
}

fn the_pool_works_while_the_parent_does_not_call_it() {
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    let done =
        DONE.get_or_init(|| examples_ipc::shared::SharedMemory::new(AtomicU32::new(0)).unwrap());
    let pool = Pool::new(3).unwrap(); // forked: the workers share `DONE`
    let pending: Vec<_> = (0..8).map(|_| pool.apply_async(nap_and_count, 20).unwrap()).collect();
    // No pool call from here until all eight have finished: they were handed out at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(SeqCst) < 8 {
        assert!(
            Instant::now() < deadline,
            "only {} of 8 ran without the parent",
            done.load(SeqCst)
        );
        sleep(Duration::from_millis(5));
    }
    for result in &pending {
        assert!(result.ready().unwrap(), "finished, so ready");
    }
    assert!(pending.into_iter().all(|r| r.get().unwrap() == 20));
    pool.close().join().unwrap();
}

fn exit_if_zero(x: u64) -> u64 {
    if x == 0 {
        std::process::exit(5);
    }
    sleep(Duration::from_millis(10));
    x
}

fn tasks_behind_a_dead_worker_run_on_the_others() {
    // One worker gets tasks 0, 2, 4, ... in its queue; task 0 ends it. Only task 0 fails:
    // the ones queued behind it go to the other worker, or to its replacement.
    let pool = Pool::new(2).unwrap();
    let results: Vec<_> = (0..10).map(|x| pool.apply_async(exit_if_zero, x).unwrap()).collect();
    for (x, result) in (0..).zip(results) {
        match result.get() {
            Err(PoolError::WorkerDied(5)) => assert_eq!(x, 0),
            other => assert_eq!(other.unwrap(), x, "task {x}"),
        }
    }
}

fn exit_at_150(x: u64) -> u64 {
    if x == 150 {
        std::process::exit(5);
    }
    x
}

fn a_map_chunk_that_ends_its_worker_fails_the_map_once() {
    // The worker holds the results of the chunks before 150 (they are wanted together)
    // when chunk 150 ends it: the map fails with that death, and chunk 150 is not run
    // again on another worker (which it would end too).
    let pool = Pool::new(2).unwrap();
    let before = pool.worker_pids();
    let outcome = pool.map_chunked(exit_at_150, (0..400).collect(), 1);
    assert!(matches!(outcome, Err(PoolError::WorkerDied(5))), "{outcome:?}");
    let after = pool.worker_pids();
    let replaced = before.iter().filter(|pid| !after.contains(pid)).count();
    assert_eq!(replaced, 1, "workers before {before:?}, after {after:?}");
    assert_eq!(pool.map_chunked(square, (0..300).collect(), 1).unwrap().len(), 300);
    assert_eq!(pool.map(square, 0..4).unwrap(), [0, 1, 4, 9]);
}

fn a_result_waits_only_behind_its_own_call() {
    // One worker, queued: two chunks of one map, then a long task of another call. The
    // map's results are not held behind the other call's task; nor is a lone result.
    let pool = Pool::new(1).unwrap();
    let short = pool.map_async(square, [1, 2]).unwrap();
    let long = pool.map_async(nap_for, [1500]).unwrap();
    assert_eq!(short.get().unwrap(), [1, 4]);
    assert!(!long.ready().unwrap(), "the map's results came only with the long task's");
    assert_eq!(long.get().unwrap(), [1500]);
    let lone = pool.apply_async(square, 3).unwrap();
    let long = pool.apply_async(nap_for, 1500).unwrap();
    assert_eq!(lone.get().unwrap(), 9);
    assert!(!long.ready().unwrap(), "the lone result came only with the long task's");
    assert_eq!(long.get().unwrap(), 1500);
}

fn fail_or_nap(ms: u64) -> u64 {
    if ms == 0 {
        std::panic::set_hook(Box::new(|_| {}));
        panic!("on purpose");
    }
    nap_for(ms)
}

fn a_failed_chunk_is_not_held_behind_the_next() {
    // One worker, one map of two chunks: the first fails, the second takes 1.5 s. The
    // failure reaches the error callback while the second still runs.
    use std::cell::Cell;
    use std::rc::Rc;
    let pool = Pool::new(1).unwrap();
    let failed = Rc::new(Cell::new(false));
    let pending = pool.map_async(fail_or_nap, [0, 1500]).unwrap().error_callback({
        let failed = Rc::clone(&failed);
        move |_: &PoolError| failed.set(true)
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !failed.get() {
        assert!(Instant::now() < deadline, "the error callback never ran");
        let _ = pending.ready().unwrap();
        sleep(Duration::from_millis(5));
    }
    assert!(!pending.ready().unwrap(), "the failure came only with the long chunk's result");
    assert!(matches!(pending.get(), Err(PoolError::Panicked(_))));
}

fn kill_own_worker(_: ()) -> u64 {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    0
}

fn a_threaded_program_replaces_dead_workers_with_spawn_and_forkserver() {
    for method in StartMethod::ALL {
        let pool = Pool::with_start_method(2, method).unwrap();
        let helper = std::thread::spawn(|| sleep(Duration::from_millis(300)));
        let outcome = pool.apply(kill_own_worker, ());
        match method {
            // The replacement would be forked from a program running two threads.
            StartMethod::Fork => {
                let err = outcome.unwrap_err().to_string();
                assert!(err.contains("Spawn") && err.contains("Forkserver"), "{err}");
            }
            _ => {
                assert!(matches!(outcome, Err(PoolError::WorkerDied(-9))), "{method}");
                assert_eq!(pool.map(square, 0..6).unwrap(), [0, 1, 4, 9, 16, 25], "{method}");
                assert_eq!(pool.worker_pids().len(), 2);
            }
        }
        helper.join().unwrap();
        drop(pool);
    }
    stop_forkserver();
}

/// This process's resident memory, in MiB.
fn resident_mib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    (pages * 4096) >> 20
}

/// 100 KiB of text (a string travels as one block of bytes, quickly even in a debug build).
fn hundred_kib(x: u64) -> String {
    char::from(b'a' + (x % 26) as u8).to_string().repeat(100 << 10)
}

/// Results whose `AsyncResult` was dropped (after their callback ran) and an abandoned
/// `imap`'s results are dropped, not kept (before, 1,500 callbacks grew the pool from 2
/// to 146 MiB).
fn results_nobody_can_ask_for_are_not_kept() {
    use std::cell::Cell;
    use std::rc::Rc;
    let pool = Pool::new(2).unwrap();
    let before = resident_mib();
    let called = Rc::new(Cell::new(0));
    for x in 0..1500 {
        let called = Rc::clone(&called);
        drop(
            pool.apply_async(hundred_kib, x)
                .unwrap()
                .callback(move |_| called.set(called.get() + 1)),
        );
    }
    let mut abandoned = pool.imap(hundred_kib, 0..500, 1).unwrap();
    assert_eq!(abandoned.next().unwrap().unwrap().len(), 100 << 10);
    drop(abandoned);
    assert_eq!(pool.apply(square, 3).unwrap(), 9); // drives the pool: every callback runs
    while called.get() < 1500 {
        pool.apply(square, 0).unwrap();
    }
    let grown = resident_mib().saturating_sub(before);
    assert!(grown < 40, "{grown} MiB kept for results nobody can ask for");
}

/// The input of `imap` read as it goes: an input that panics at item 3 gives the three
/// results before it, then the error (CPython's `test_imap_handle_iterable_exception`;
/// before, the whole input was read first and nothing came back).
fn imap_gives_the_results_before_a_failing_input() {
    let pool = Pool::new(2).unwrap();
    let input = (0..10_u64).inspect(|&x| {
        if x == 3 {
            std::panic::set_hook(Box::new(|_| {}));
            panic!("item 3 cannot be made");
        }
    });
    let got: Vec<Result<u64, PoolError>> = pool.imap(square, input, 1).unwrap().collect();
    let _ = std::panic::take_hook();
    assert_eq!(got.len(), 4, "{got:?}");
    let values: Vec<u64> = got[..3].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(values, [0, 1, 4]);
    assert!(matches!(&got[3], Err(PoolError::Input(m)) if m.contains("item 3")), "{got:?}");
}

/// A callback that submits work to the pool it came from (CPython allows it; before,
/// it panicked: the pool's state was borrowed while callbacks ran).
fn a_callback_may_submit_more_work() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let pool = Rc::new(Pool::new(2).unwrap());
    let second: Rc<RefCell<Option<u64>>> = Rc::default();
    let first = pool.apply_async(square, 3).unwrap().callback({
        let (pool, second) = (Rc::clone(&pool), Rc::clone(&second));
        move |&nine: &u64| *second.borrow_mut() = Some(pool.apply(square, nine).unwrap())
    });
    assert_eq!(first.get().unwrap(), 9);
    assert_eq!(*second.borrow(), Some(81));
}

/// Writes `bytes` to every socket this worker holds: its connection to the pool is one.
fn write_to_sockets(bytes: &[u8]) {
    for fd in 3..256 {
        // SAFETY: `fstat` and `write` on descriptor numbers; a closed one fails harmlessly.
        unsafe {
            let mut stat = std::mem::zeroed::<nix::libc::stat>();
            if nix::libc::fstat(fd, &mut stat) == 0
                && stat.st_mode & nix::libc::S_IFMT == nix::libc::S_IFSOCK
            {
                nix::libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            }
        }
    }
}

/// A header announcing 4 GiB, then nothing.
fn babble(_: ()) -> u64 {
    write_to_sockets(&[0xff; 4]);
    sleep(Duration::from_secs(60)); // still alive: the pool must not wait for it
    0
}

/// A well-formed answer, for a task that does not exist.
fn answer_another_task(_: ()) -> u64 {
    #[derive(serde::Serialize)]
    struct Done {
        id: u64,
        result: Result<Vec<u8>, ()>,
    }
    let body = postcard::to_stdvec(&Done { id: 999_999, result: Ok(vec![0]) }).unwrap();
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend(body);
    write_to_sockets(&frame);
    sleep(Duration::from_secs(60));
    0
}

/// A worker that sends something that is no answer to its task (a huge length, an
/// answer for another task) is killed, its task fails, and the pool goes on (before,
/// the parent waited for ever to reap a worker that was still alive, or took the
/// answer of another task as this one's).
fn a_worker_that_talks_nonsense_is_killed_and_its_task_fails() {
    let pool = Pool::new(2).unwrap();
    let check = |outcome: Result<u64, PoolError>, started: Instant| {
        assert!(matches!(outcome, Err(PoolError::BadWorker(_))), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(30), "it waited for the worker");
        assert_eq!(pool.map(square, 0..4).unwrap(), [0, 1, 4, 9], "the pool goes on");
        assert_eq!(pool.worker_pids().len(), 2);
    };
    let started = Instant::now();
    check(pool.apply(babble, ()), started);
    let started = Instant::now();
    check(pool.apply(answer_another_task, ()), started);
}

/// Random bytes, from a seed (xorshift), written to every socket of the worker.
fn babble_seeded(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut bytes = Vec::new();
    for _ in 0..(next() % 4 + 1) {
        let len = match next() % 3 {
            0 => next() as u32,        // anything, huge included
            _ => (next() % 40) as u32, // short: a body that may or may not come whole
        };
        bytes.extend(len.to_be_bytes());
        bytes.extend((0..next() % 48).map(|_| next() as u8));
    }
    write_to_sockets(&bytes);
    sleep(Duration::from_secs(60)); // still alive: the pool must not wait for it
    0
}

/// Seeds from `FUZZ_SEEDS` (`FUZZ_SEEDS=1000`: seeds 1 to 1000), else a fixed few.
fn fuzz_seeds() -> Vec<u64> {
    match std::env::var("FUZZ_SEEDS").ok().and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => (1..=n).collect(),
        None => (1..=24).collect(),
    }
}

/// Whatever a worker writes back, the pool answers within the caller's deadline (an
/// error, or `Timeout` while a live worker has sent half an answer) and goes on; it never
/// panics and never waits inside a read.
fn random_bytes_from_a_worker_never_hang_the_pool() {
    for seed in fuzz_seeds() {
        let pool = Pool::new(1).unwrap();
        let started = Instant::now();
        let pending = pool.apply_async(babble_seeded, seed).unwrap();
        match pending.get_timeout(Duration::from_millis(300)) {
            Err(PoolError::BadWorker(_) | PoolError::Timeout) => {}
            other => panic!("seed {seed}: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "seed {seed}: waited");
        drop(pending);
        drop(pool); // ends a babbler still at it, at once
    }
    assert_eq!(Pool::new(1).unwrap().apply(square, 3).unwrap(), 9);
}
