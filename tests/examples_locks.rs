//! Runs every `examples-locks` binary and checks what its note says should happen.

use harness::{number_after, run};

#[test]
fn race() {
    let out = run(env!("CARGO_BIN_EXE_race"), &[]);
    out.assert_success();
    // The note's program: the first thread joined before the second starts: exact.
    assert_eq!(out.lines()[..2], ["sum1: 1000000", "sum2: 2000000"]);
    // Racing: each thread's last view, then the total and the loss computed from it.
    let views: Vec<i64> =
        ["racing: sum1: ", "racing: sum2: "].iter().map(|p| number_after(out.line(p), p)).collect();
    let racy = out.line("racing: g_num=");
    let total = number_after(racy, "g_num=");
    assert!((1_000_000..=2_000_000).contains(&total), "{racy}");
    assert!(views.iter().all(|v| (1..=total).contains(v)), "{views:?} {racy}");
    assert_eq!(views.iter().max(), Some(&total), "the thread that ends last sees the total");
    assert_eq!(number_after(racy, "2000000, "), 2_000_000 - total);
}

#[test]
fn mutex_counter() {
    let out = run(env!("CARGO_BIN_EXE_mutex_counter"), &[]);
    out.assert_success();
    // Lock per increment: the first to end sees 200000..400000, the second 400000.
    let lines = out.lines();
    let views: Vec<i64> = lines[..2].iter().map(|l| number_after(l, " ")).collect();
    assert!((200_000..=400_000).contains(&views[0]), "{views:?}");
    assert_eq!(views[1], 400_000);
    let mut names: Vec<&str> = lines[..2].iter().map(|l| &l[..2]).collect();
    names.sort_unstable();
    assert_eq!(names, ["t1", "t2"]);
    // Lock around the whole loop: the first holder saw 1000000, the other 2000000.
    assert!(lines[2].ends_with(": 1000000") && lines[3].ends_with(": 2000000"), "{lines:?}");
    assert_ne!(lines[2][..4], lines[3][..4], "one line from each function");
    assert_eq!(lines.len(), 4);
}

#[test]
fn bank_account() {
    let out = run(env!("CARGO_BIN_EXE_bank_account"), &[]);
    out.assert_success();
    assert_eq!(out.lines()[0], "1900");
    // The lock ran the two 0.2 s operations one after the other.
    let took = out.line("the two locked operations took ");
    let seconds: f64 = took.split(' ').nth(5).unwrap().parse().unwrap();
    assert!(seconds >= 0.4, "{took}");
    // Without the lock both read the same 1000 (each sleeps after reading), so one
    // update is lost: 2000 or 900.
    assert_eq!(out.count("unlocked: save reads 1000") + out.count("unlocked: drw reads 1000"), 2);
    let lost = number_after(out.line("unlocked: balance"), "balance ");
    assert!(lost == 2000 || lost == 900, "{}", out.show());
}

#[test]
fn rlock() {
    let out = run(env!("CARGO_BIN_EXE_rlock"), &[]);
    out.assert_success();
    assert_eq!(out.count("Thread-1 holds the lock"), 1);
    assert_eq!(out.count("Thread-2 holds the lock"), 1);
    assert_eq!(out.count_containing("Lock: its holder asks again: acquired=false"), 1);
    assert_eq!(
        out.count("RLock: its holder took it 3 deep; another thread's try: acquired=false"),
        1
    );
    assert_eq!(out.count("RLock: released 3 times; another thread's try: acquired=true"), 1);
}

#[test]
fn condition() {
    let out = run(env!("CARGO_BIN_EXE_condition"), &[]);
    out.assert_success();
    assert_eq!(
        out.lines(),
        [
            "produce 0, consume 0, produce 1, consume 1, produce 2, consume 2",
            "wait_for(pred, 0.1) with nobody notifying: false",
            "notify_all(): 3 of 3 waiters went on",
        ]
    );
}

#[test]
fn thread_sync() {
    let out = run(env!("CARGO_BIN_EXE_thread_sync"), &[]);
    out.assert_success();
    assert_eq!(out.count("join: read 42 after the thread ended"), 1);
    assert_eq!(out.count("turns: ABCABCABC"), 1);
    // The barrier: every thread arrived (0.1 s apart, in order) before any left.
    let events: Vec<&str> =
        out.line("barrier: ").trim_start_matches("barrier: ").split(", ").collect();
    assert_eq!(events[..3], ["arrive 0", "arrive 1", "arrive 2"]);
    let mut left: Vec<&str> = events[3..].to_vec();
    left.sort_unstable();
    assert_eq!(left, ["leave 0", "leave 1", "leave 2"]);
}

#[test]
fn producer_consumer() {
    let out = run(env!("CARGO_BIN_EXE_producer_consumer"), &[]);
    out.assert_success();
    assert_eq!(out.count("consumer: got 100 items in order 0..99: true, sum 4950"), 1);
    let producer = out.line("producer: found the queue full");
    assert!(producer.ends_with("it never held more than 3"), "{producer}");
    assert!((0..=100).contains(&number_after(producer, "full ")));
    let shared = out.line("2 producers, 3 consumers:");
    assert!(shared.contains(": 20 items, each taken once;"), "{shared}");
    let counts = shared.split('[').nth(1).unwrap().trim_end_matches(']');
    let total: i64 = counts.split(", ").map(|c| c.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 20, "{shared}");
}

#[test]
fn every_example_refuses_arguments() {
    for bin in [
        env!("CARGO_BIN_EXE_race"),
        env!("CARGO_BIN_EXE_mutex_counter"),
        env!("CARGO_BIN_EXE_bank_account"),
        env!("CARGO_BIN_EXE_rlock"),
        env!("CARGO_BIN_EXE_condition"),
        env!("CARGO_BIN_EXE_thread_sync"),
        env!("CARGO_BIN_EXE_producer_consumer"),
    ] {
        run(bin, &["--timeline", "t.svg"]).assert_argument_refused("--timeline");
    }
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind;
/// under a closed or full standard output or a task limit, each ends in time.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let std = harness::Policy::Std; // std-only examples: they may end as Rust does
    let binaries: [(&str, &[&str], _); 7] = [
        (env!("CARGO_BIN_EXE_race"), &[], std),
        (env!("CARGO_BIN_EXE_mutex_counter"), &[], std),
        (env!("CARGO_BIN_EXE_bank_account"), &[], std),
        (env!("CARGO_BIN_EXE_rlock"), &[], std),
        (env!("CARGO_BIN_EXE_condition"), &[], std),
        (env!("CARGO_BIN_EXE_thread_sync"), &[], std),
        (env!("CARGO_BIN_EXE_producer_consumer"), &[], std),
    ];
    harness::stress_all_with(env!("CARGO_MANIFEST_DIR"), &binaries);
}
