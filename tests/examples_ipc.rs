//! Runs every `examples-ipc` binary and checks what its note says should happen.

use std::time::Duration;

use harness::{Signal, interrupt, interrupt_each, number_after, run};

#[test]
fn pipe() {
    let out = run(env!("CARGO_BIN_EXE_pipe"), &[]);
    out.assert_success();
    // The child's 11 reached the parent, and the parent's 44 reached the child.
    assert!(out.position("11") < out.position("from parent: 44"));
    assert_eq!(out.lines().len(), 3, "{}", out.show());
    assert_eq!(out.count("after the child closed its end, recv() gives end-of-file"), 1);
}

/// The pipe example needs no temporary directory (before, it named a log file there,
/// and when it could not make it, the program waited for ever on its child).
#[test]
fn pipe_needs_no_temporary_directory() {
    let out = harness::run_with_env(env!("CARGO_BIN_EXE_pipe"), &[], &[("TMPDIR", "/no/such/dir")]);
    out.assert_success();
}

#[test]
fn process_sync() {
    let out = run(env!("CARGO_BIN_EXE_process_sync"), &[]);
    out.assert_success();
    let lines = out.lines();
    let mut holders = lines[..2].to_vec();
    holders.sort_unstable();
    assert_eq!(holders, ["Process-1 holds the lock", "Process-2 holds the lock"]);
    // The consumer woke only after all three puts, with all three.
    assert_eq!(
        lines[2..],
        [
            "producer: put 1 of 3",
            "producer: put 2 of 3",
            "producer: put 3 of 3",
            "consumer: woke with 3 items"
        ]
    );
}

#[test]
fn queue() {
    let out = run(env!("CARGO_BIN_EXE_queue"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines[0], "Queue(3): empty()=true qsize()=0 full()=false");
    assert_eq!(lines[1], r#"put, get -> "message 1"; then empty()=true qsize()=0 full()=false"#);
    assert_eq!(lines[2], "parent: a child put 3: full()=true qsize()=3");
    let timed = out.line("put(timeout=0.2)");
    assert!(timed.contains("-> full after") && number_after(timed, "after ") >= 200, "{timed}");
    assert_eq!(
        out.count(r#"parent: got ["from the child 1", "from the child 2", "from the child 3"]"#),
        1
    );
    let timed_get = out.line("get(timeout=0.2)");
    assert!(timed_get.contains("-> empty after") && number_after(timed_get, "after ") >= 200);
}

#[test]
fn queue_processes() {
    let out = run(env!("CARGO_BIN_EXE_queue_processes"), &[]);
    out.assert_success();
    assert_eq!(
        out.lines(),
        [
            "got: 11",
            "got: 22",
            "empty: true",
            r#"from the child, through ipc-channel: "a reading of 21.5""#
        ]
    );
}

/// The running values of a `job(n): 1 2 3 4 5` line.
fn running_values(line: &str) -> Vec<i64> {
    let values = line.split_once(": ").map_or("", |(_, v)| v);
    values
        .split(' ')
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")))
        .collect()
}

/// Each job held the lock for its whole loop: one job's five steps, then the other's.
fn check_jobs(out: &harness::Output) {
    let jobs: Vec<Vec<i64>> =
        out.lines().into_iter().filter(|l| l.starts_with("job(")).map(running_values).collect();
    assert_eq!(jobs.len(), 2, "{}", out.show());
    let mut all: Vec<i64> = jobs.concat();
    all.sort();
    let ones_first = [1, 2, 3, 4, 5, 8, 11, 14, 17, 20];
    let threes_first = [3, 6, 9, 12, 15, 16, 17, 18, 19, 20];
    assert!(all == ones_first || all == threes_first, "{jobs:?}");
}

#[test]
fn value() {
    let out = run(env!("CARGO_BIN_EXE_value"), &[]);
    out.assert_success();
    check_jobs(&out);
    assert_eq!(out.lines().last(), Some(&"20"));
}

#[test]
fn named_value() {
    let out = run(env!("CARGO_BIN_EXE_named_value"), &[]);
    out.assert_success();
    check_jobs(&out);
    out.line("named: created segment /");
    assert_eq!(out.count("named: both adders attached; name removed"), 1);
    assert_eq!(out.lines().last(), Some(&"named: value = 20"));
    // The named segment is gone: the harness checks the run's own /dev/shm.
}

#[test]
fn named_value_touches_no_segment_it_did_not_make() {
    // A segment of the right size that some other program made: all zeros, no tag.
    let name = format!("foreign-{}", std::process::id());
    let (out, after) = harness::run_with_shm(
        env!("CARGO_BIN_EXE_named_value"),
        &["add", &format!("/{name}"), "3"],
        |shm| std::fs::write(shm.join(&name), [0_u8; 4096]).unwrap(),
        |shm| {
            let after = std::fs::read(shm.join(&name));
            let _ = std::fs::remove_file(shm.join(&name));
            after.unwrap()
        },
    );
    out.assert_usage_error();
    assert!(out.stderr.contains("is not a segment this program made"), "{}", out.show());
    assert!(after.iter().all(|&b| b == 0), "the foreign segment was written to");
}

#[test]
fn named_value_answers_help_and_rejects_bad_arguments() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_named_value"),
        &[
            &["add", "/shmem_x", "0"],
            &["add", "/shmem_x", "lots"],
            &["add", "/shmem_x", "1001"],
            &["add", "/shmem_x", "-3"],
            &["add", "/shmem_x"],
            &["add", "/no-such-segment-here", "3"],
            &["subtract"],
        ],
    );
}

#[test]
fn manager() {
    let out = run(env!("CARGO_BIN_EXE_manager"), &[]);
    out.assert_success();
    // Each child printed the list with its own pid appended; the second saw the first's too.
    let lines = out.lines();
    assert_eq!(lines.len(), 4, "{}", out.show());
    let pids: Vec<i64> =
        lines[..2].iter().map(|l| number_after(l.rsplit(", ").next().unwrap(), "")).collect();
    assert_eq!(lines[0], format!("[0, 1, 2, 3, 4, {}]", pids[0]));
    assert_eq!(lines[1], format!("[0, 1, 2, 3, 4, {}, {}]", pids[0], pids[1]));
    // The dict in insertion order: the child that printed first inserted first.
    assert_eq!(lines[2], format!("{{{0}: {0}, {1}: {1}}}", pids[0], pids[1]));
    assert_eq!(lines[3], lines[1]);
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let binaries: [(&str, &[&str]); 9] = [
        (env!("CARGO_BIN_EXE_pipe"), &[]),
        (env!("CARGO_BIN_EXE_named_value"), &[]),
        (env!("CARGO_BIN_EXE_process_sync"), &[]),
        (env!("CARGO_BIN_EXE_robust_lock"), &[]),
        (env!("CARGO_BIN_EXE_shm_queue"), &[]),
        (env!("CARGO_BIN_EXE_queue"), &[]),
        (env!("CARGO_BIN_EXE_queue_processes"), &[]),
        (env!("CARGO_BIN_EXE_value"), &[]),
        (env!("CARGO_BIN_EXE_manager"), &[]),
    ];
    harness::stress_all(env!("CARGO_MANIFEST_DIR"), &binaries);
}

#[test]
fn robust_lock() {
    let out = run(env!("CARGO_BIN_EXE_robust_lock"), &[]);
    out.assert_success();
    // The lock is handed to the next locker, with the half-done transfer to repair.
    assert_eq!(
        out.lines(),
        [
            "transfer: took 30 from alice; killed before giving it to bob",
            "main: the transfer's exit code -9",
            "repair: holder_died=true with Accounts { alice: 70, bob: 0, moving: 30 }",
            "repair: rolled back to Accounts { alice: 100, bob: 0, moving: 0 }",
            "main: holder_died=false, total 100",
        ]
    );
}

#[test]
fn shm_queue() {
    let out = run(env!("CARGO_BIN_EXE_shm_queue"), &[]);
    out.assert_success();
    // Every item arrived once: the count and the sum, seen by the child and sent back.
    let child = out.line("child: received");
    assert!(child.starts_with("child: received 100000 items, sum 4999950000;"), "{child}");
    assert!(out.line("parent: sent").starts_with("parent: sent 100000 items in"));
    assert_eq!(out.count("parent: the child's sum is 4999950000"), 1);
}

/// A signal while the parent waits in `put(timeout=0.2)` on a full queue. Its filler
/// child has exited by then; what must not be left is the queue itself (its channel
/// and the shared semaphore), which the harness checks.
#[test]
fn queue_dies_in_a_timed_put() {
    let bin = env!("CARGO_BIN_EXE_queue");
    interrupt_each(bin, &[], "parent: a child put 3", 1, Duration::from_secs(1));
}

/// Ctrl-C or SIGTERM right after the named segment was created: the signal waits
/// until the name is removed, so nothing is left in the run's /dev/shm (the harness
/// checks), and then ends the program and its adders.
#[test]
fn named_value_interrupted_leaves_no_segment() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let seen = interrupt(
            env!("CARGO_BIN_EXE_named_value"),
            &[],
            "named: created segment",
            1,
            signal,
            Duration::from_secs(1),
        );
        let out = &seen.gone.output;
        out.line("named: created segment /");
        println!("named_value, {signal}: last line {:?}", out.lines().last());
    }
}

#[test]
fn every_example_refuses_arguments() {
    for bin in [
        env!("CARGO_BIN_EXE_pipe"),
        env!("CARGO_BIN_EXE_process_sync"),
        env!("CARGO_BIN_EXE_robust_lock"),
        env!("CARGO_BIN_EXE_shm_queue"),
        env!("CARGO_BIN_EXE_queue"),
        env!("CARGO_BIN_EXE_queue_processes"),
        env!("CARGO_BIN_EXE_value"),
        env!("CARGO_BIN_EXE_manager"),
    ] {
        let out = run(bin, &["--timeline", "t.svg"]);
        out.assert_usage_error();
    }
}
