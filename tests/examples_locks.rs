//! Runs every `examples-locks` binary and checks what its note says should happen.

use harness::{number_after, run};

#[test]
fn race() {
    let out = run(env!("CARGO_BIN_EXE_race"), &[]);
    out.assert_success();
    // The racy total is reported, whatever it is, and the loss is computed from it.
    let racy = out.line("racy: g_num=");
    let total = number_after(racy, "g_num=");
    assert!((0..=2_000_000).contains(&total), "{racy}");
    assert_eq!(number_after(racy, "lost updates="), 2_000_000 - total);
    // Joining the first thread before starting the second makes the totals exact.
    assert_eq!(out.count("sum1: 1000000"), 1);
    assert_eq!(out.count("sum2: 2000000"), 1);
    assert!(out.position("sum1:") < out.position("sum2:"));
    assert_eq!(out.count("fetch_add: g_num=2000000"), 1);
}

#[test]
fn mutex_counter() {
    let out = run(env!("CARGO_BIN_EXE_mutex_counter"), &[]);
    out.assert_success();
    // Lock per increment: each thread's view at its end is between 200000 and 400000,
    // and the one that ends last sees 400000.
    let views: Vec<i64> = ["t1 ", "t2 "].iter().map(|t| number_after(out.line(t), t)).collect();
    assert!(views.iter().all(|v| (200_000..=400_000).contains(v)), "{views:?}");
    assert_eq!(views.iter().max(), Some(&400_000));
    // Lock around the whole loop: sum1 and sum2 each once; whichever locked first saw
    // 1000000, the other 2000000, in that order.
    let sums: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("sum1: ") || l.starts_with("sum2: "))
        .collect();
    assert_eq!(sums.len(), 2, "{}", out.show());
    assert!(sums[0].ends_with(": 1000000") && sums[1].ends_with(": 2000000"), "{sums:?}");
    assert_ne!(sums[0][..4], sums[1][..4], "one line from each function");
    assert!(out.line("std::sync::Mutex").contains("poisoned=true, value=1 (recovered)"));
    assert!(out.line("parking_lot::Mutex").contains("value=1 (no poisoning)"));
}

#[test]
fn bank_account() {
    let out = run(env!("CARGO_BIN_EXE_bank_account"), &[]);
    out.assert_success();
    // With the lock: each operation's start and end lines are adjacent (serialised),
    // the second reads what the first wrote, and the balance is 1900.
    let locked: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("locked: ") && !l.contains("balance"))
        .collect();
    assert_eq!(locked.len(), 4, "{}", out.show());
    for pair in locked.chunks(2) {
        let op = pair[0].split_whitespace().nth(1).unwrap();
        assert!(pair[0].contains("starts") && pair[1].contains(&format!("{op} ends")), "{pair:?}");
    }
    assert_eq!(number_after(locked[2], "reads "), number_after(locked[1], "writes "));
    assert!(out.line("balance is").ends_with("balance is 1900"));
    // Without it: when both read before either wrote, one update is lost.
    let unlocked = number_after(out.line("unlocked: the balance is"), "balance is ");
    let last_read =
        out.position("unlocked: withdraw reads").max(out.position("unlocked: deposit reads"));
    let first_write =
        out.position("unlocked: withdraw writes").min(out.position("unlocked: deposit writes"));
    if last_read < first_write {
        assert!(
            unlocked == 900 || unlocked == 2000,
            "both read 1000, yet the balance is {unlocked}"
        );
    }
}

#[test]
fn rlock() {
    let out = run(env!("CARGO_BIN_EXE_rlock"), &[]);
    out.assert_success();
    assert_eq!(out.count("Lock: held; a second try_lock succeeds=false"), 1);
    let timed = out.line("try_lock_for(100 ms)");
    assert!(timed.contains("succeeds=false") && number_after(timed, "after ") >= 100, "{timed}");
    assert_eq!(out.count("Lock: after release, try_lock succeeds=true"), 1);
    for level in 1..=5 {
        assert_eq!(
            out.count(&format!("RLock: level {level} holds the lock; another thread refused=true")),
            1
        );
    }
    assert_eq!(out.count("RLock: 5! = 120, lock depths reached [1, 2, 3, 4, 5]"), 1);
    assert_eq!(out.count("RLock: another thread's try_lock after the recursion succeeds=true"), 1);
}

#[test]
fn condition() {
    let out = run(env!("CARGO_BIN_EXE_condition"), &[]);
    out.assert_success();
    let handoff: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("produce ") || l.starts_with("consume "))
        .collect();
    assert_eq!(
        handoff,
        ["produce 0", "consume 0", "produce 1", "consume 1", "produce 2", "consume 2"]
    );
    assert_eq!(out.count("wait_for(ready, 0.1 s) with nobody setting it returned false"), 1);
    assert_eq!(out.count("wait_for(ready, 10 s) with a thread setting it returned true"), 1);
    // notify_one: exactly one waiter woke before notify_all woke the other two.
    let one = out.position("notify_one woke one=true; woken so far 1");
    let woke: Vec<usize> = (1..=3).map(|id| out.position(&format!("waiter {id} woke"))).collect();
    assert_eq!(woke.iter().filter(|&&at| at < one).count(), 1, "{}", out.show());
    assert_eq!(out.count("notify_all woke 2"), 1);
}

#[test]
fn thread_sync() {
    let out = run(env!("CARGO_BIN_EXE_thread_sync"), &[]);
    out.assert_success();
    let turns: String = out.lines().iter().filter_map(|l| l.strip_prefix("turns: ")).collect();
    assert_eq!(turns, "ABCABCABC");
    // The semaphore of 2: six workers, never more than two at once.
    let at_once: Vec<i64> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("semaphore: worker"))
        .map(|l| number_after(l, "working, "))
        .collect();
    assert_eq!(at_once.len(), 6);
    assert!(at_once.iter().all(|n| (1..=2).contains(n)), "{at_once:?}");
    // The event: nobody passed before it was set, all three after.
    assert_eq!(out.count("event: wait(0.1) before set returned false; 0 threads passed"), 1);
    let set = out.position("event: set");
    for id in 1..=3 {
        assert!(out.position(&format!("event: thread {id} passed")) > set);
    }
    // The barrier: every thread arrived before any left, and each saw all three.
    let last_arrival =
        (0..3).map(|i| out.position(&format!("barrier: thread {i} arrives"))).max().unwrap();
    let first_leave =
        (0..3).map(|i| out.position(&format!("barrier: thread {i} leaves"))).min().unwrap();
    assert!(last_arrival < first_leave);
    assert_eq!(out.count_containing(", 3 arrived"), 3);
    // wait() gives each its arrival index: thread i arrives i-th, 0.1 s apart.
    for i in 0..3 {
        assert_eq!(out.count(&format!("barrier: thread {i} leaves with index {i}, 3 arrived")), 1);
    }
    // A plain semaphore grows past its size; a bounded one refuses.
    assert_eq!(out.count("semaphore: after one release too many, Semaphore(2) holds 3 permits"), 1);
    assert_eq!(
        out.count("semaphore: BoundedSemaphore(2): release -> Ok(()), release again -> Err(ReleasedTooManyTimes)"),
        1
    );
    // A wait on an event that is set returns true (the example checks: without waiting).
    assert!(out.line("event: wait(5) on the set event").contains("returned true"));
    assert_eq!(out.count("join: read 42 after the thread ended"), 1);
}

#[test]
fn producer_consumer() {
    let out = run(env!("CARGO_BIN_EXE_producer_consumer"), &[]);
    out.assert_success();
    // Queue of 3: the consumer got 0..9 in order, the producer never more than 3 ahead.
    let got: Vec<i64> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("consumer: got"))
        .map(|l| number_after(l, "got "))
        .collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    for full in out.lines().into_iter().filter(|l| l.starts_with("producer: queue full")) {
        assert_eq!(number_after(full, "("), 3, "{full}");
    }
    // 2 producers × 10, 3 consumers: each item processed once, all before the join returned.
    let mut processed: Vec<i64> = out
        .lines()
        .into_iter()
        .filter(|l| l.contains(": processed "))
        .map(|l| number_after(l, "processed "))
        .collect();
    processed.sort();
    let mut expected: Vec<i64> = (0..10).chain(100..110).collect();
    expected.sort();
    assert_eq!(processed, expected);
    let joined = out.position("main: queue joined after 20 items were processed");
    assert_eq!(out.lines()[..joined].iter().filter(|l| l.contains(": processed ")).count(), 20);
    // Between processes: 0..99 through a pipe, summing to 4950.
    // Between processes: a queue of 3, a sentinel, the sum.
    assert_eq!(out.count("consumer process: got everything up to None, sum 4950"), 1);
    assert_eq!(out.count("between processes: the consumer summed 100 items to 4950"), 1);
    let most = number_after(out.line("producer process:"), "at most ");
    assert!((1..=3).contains(&most), "{}", out.line("producer process:"));
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let binaries: [(&str, &[&str]); 7] = [
        (env!("CARGO_BIN_EXE_race"), &[]),
        (env!("CARGO_BIN_EXE_mutex_counter"), &[]),
        (env!("CARGO_BIN_EXE_bank_account"), &[]),
        (env!("CARGO_BIN_EXE_rlock"), &[]),
        (env!("CARGO_BIN_EXE_condition"), &[]),
        (env!("CARGO_BIN_EXE_thread_sync"), &[]),
        (env!("CARGO_BIN_EXE_producer_consumer"), &[]),
    ];
    harness::stress_all(env!("CARGO_MANIFEST_DIR"), &binaries);
}

#[test]
fn mutex_counter_timeline() {
    let (_, shown) = harness::svg::run_with_timeline(env!("CARGO_BIN_EXE_mutex_counter"), &[]);
    // Four named threads (the two panicking holders record nothing).
    assert_eq!(shown.names(), ["t1", "t2", "sum1", "sum2"], "{shown:?}");
    assert_eq!(shown.row("t1"), ["200000 × lock, add 1, unlock"]);
    for sum in ["sum1", "sum2"] {
        assert_eq!(shown.row(sum), ["waits for the lock", "holds the lock"]);
    }
    assert_eq!((shown.cut, shown.marks), (0, 0));
}
