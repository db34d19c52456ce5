//! Runs every `examples-ipc` binary and checks what its note says should happen.

use std::time::Duration;

use harness::{Signal, interrupt, interrupt_each, number_after, run};

/// Ctrl-C, `kill`, `kill -9`: each must end the whole tree at once.

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
    let held =
        "lock: held by the child; acquire(block=False) -> false, acquire(timeout=0.1) -> false";
    assert_eq!(out.count(held), 1);
    assert_eq!(out.count("lock: once the child let go, acquire(timeout=10) -> true"), 1);
    assert_eq!(out.count("rlock: the child holds it twice"), 1);
    assert_eq!(out.count("bounded semaphore(1): a release without an acquire is refused: true"), 1);
    // The consumer woke only after all three puts.
    let woke = out.position("condition: the consumer woke with 3 items (predicate held: true)");
    assert!((1..=3).all(|i| out.position(&format!("the producer put item {i}")) < woke));
    assert_eq!(out.count("event: the child set it; wait(10) -> true"), 1);
}

#[test]
fn queue() {
    let out = run(env!("CARGO_BIN_EXE_queue"), &[]);
    out.assert_success();
    // The child's puts fill it one by one; the parent sees the same size.
    for i in 1..=3 {
        assert_eq!(out.count(&format!("filler: put message {i}, qsize={i}")), 1);
    }
    assert_eq!(out.count("parent: full=true qsize=3"), 1);
    let timed = out.line("put(timeout=0.2)");
    assert!(timed.contains("-> full after") && number_after(timed, "after ") >= 200, "{timed}");
    assert_eq!(out.count("parent: put_nowait -> full"), 1);
    // Another child gets them first in, first out, and the size falls in both processes.
    let got: Vec<&str> =
        out.lines().into_iter().filter(|l| l.starts_with("drainer: got")).collect();
    assert_eq!(
        got,
        [
            "drainer: got message 1, qsize=2",
            "drainer: got message 2, qsize=1",
            "drainer: got message 3, qsize=0"
        ]
    );
    assert_eq!(out.count("drainer: empty=true"), 1);
    assert_eq!(out.count("parent: empty=true qsize=0"), 1);
    let timed_get = out.line("get(timeout=0.2)");
    assert!(
        timed_get.contains("-> empty after") && number_after(timed_get, "after ") >= 200,
        "{timed_get}"
    );
    assert_eq!(out.count("parent: get_nowait -> empty"), 1);
}

#[test]
fn queue_processes() {
    let out = run(env!("CARGO_BIN_EXE_queue_processes"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(&lines[..2], ["got: 11", "got: 22"]);
    let readings: Vec<&str> =
        lines.iter().copied().filter(|l| l.starts_with("got: Reading")).collect();
    assert_eq!(readings.len(), 3);
    for (reading, (sensor, value)) in
        readings.iter().zip([("north", "20.0"), ("east", "21.0"), ("south", "22.0")])
    {
        assert!(reading.contains(&format!("sensor: \"{sensor}\", value: {value}")), "{reading}");
    }
    // All three came from one process (the example checks it is the child).
    let pids: Vec<i64> = readings.iter().map(|r| number_after(r, "pid: ")).collect();
    assert!(pids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(out.count("average: 21.0"), 1);
}

/// The running values of a `job(n): running values [...]` line.
fn running_values(line: &str) -> Vec<i64> {
    let inside = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .map_or("", |(list, _)| list);
    inside
        .split(", ")
        .map(|v| v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")))
        .collect()
}

#[test]
fn value() {
    let out = run(env!("CARGO_BIN_EXE_value"), &[]);
    out.assert_success();
    // Twice (forked, then named): each job held the lock for its whole loop, so the
    // values are one job's five steps then the other's, ending at 20.
    let jobs: Vec<Vec<i64>> =
        out.lines().into_iter().filter(|l| l.starts_with("job(")).map(running_values).collect();
    assert_eq!(jobs.len(), 4, "{}", out.show());
    for pair in jobs.chunks(2) {
        let mut all: Vec<i64> = pair.concat();
        all.sort();
        let ones_first = [1, 2, 3, 4, 5, 8, 11, 14, 17, 20];
        let threes_first = [3, 6, 9, 12, 15, 16, 17, 18, 19, 20];
        assert!(all == ones_first || all == threes_first, "{pair:?}");
    }
    assert_eq!(out.count("forked: v.value = 20"), 1);
    assert_eq!(out.count("forked: array = [0, 1, 4, 9, 16, 25]"), 1);
    assert_eq!(out.count("values under one lock: a.value=-200 b.value=200; the raw value 200"), 1);
    assert_eq!(out.count_containing("says \"attached\""), 2);
    assert_eq!(out.count("named: value = 20"), 1);
    // The named segment is gone, as the example reported; the harness checks the
    // run's own /dev/shm too.
    out.line("named: created segment /");
    assert!(out.line("name removed").ends_with("in /dev/shm: false"));
}

#[test]
fn value_touches_no_segment_it_did_not_make() {
    // A segment of the right size that some other program made: all zeros, no tag.
    let name = format!("foreign-{}", std::process::id());
    let (out, after) = harness::run_with_shm(
        env!("CARGO_BIN_EXE_value"),
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
fn value_answers_help_and_rejects_bad_arguments() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_value"),
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
    // While both children waited for the lock, the manager still answered the parent.
    assert_eq!(
        out.count(
            "main: 2 clients waiting for the lock; the manager still answers: list [0, 1, 2, 3, 4]"
        ),
        1
    );
    // Each child printed the list with its own pid appended; the second saw the first's too.
    let children: Vec<&str> =
        out.lines().into_iter().filter(|l| l.starts_with("child pid=")).collect();
    assert_eq!(children.len(), 2);
    let pids: Vec<i64> = children.iter().map(|l| number_after(l, "pid=")).collect();
    assert!(children[0].ends_with(&format!("l = [0, 1, 2, 3, 4, {}]", pids[0])));
    assert!(children[1].ends_with(&format!("l = [0, 1, 2, 3, 4, {}, {}]", pids[0], pids[1])));
    // The dict in insertion order: the child that printed first inserted first.
    assert_eq!(out.count(&format!("main: d = {{{0}: {0}, {1}: {1}}}", pids[0], pids[1])), 1);
    assert_eq!(out.count(&format!("main: l = [0, 1, 2, 3, 4, {}, {}]", pids[0], pids[1])), 1);
    let changed = format!(
        "main: after l[0] = 100, l.pop() -> {}, l.extend([7, 8]): l = [100, 1, 2, 3, 4, {}, 7, 8], len 8",
        pids[1], pids[0]
    );
    assert_eq!(out.count(&changed), 1, "{}", out.show());
    assert_eq!(out.count("main: a call after shutdown returns an error: true"), 1);
    // The other objects, one line each.
    assert_eq!(out.count("namespace: ns.x=Some(1) ns.y=Some(2)"), 1);
    assert!(out.line("queue: got ").ends_with("from the child that put its pid"));
    assert_eq!(out.count("rlock: taken twice by this process, released twice"), 1);
    assert_eq!(out.count("semaphore(2): two permits taken here, 1 process waited for a third"), 1);
    assert!(
        out.position("condition: notify(1) woke 1") < out.position("condition: the waiter woke")
    );
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let binaries: [(&str, &[&str]); 8] = [
        (env!("CARGO_BIN_EXE_pipe"), &[]),
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
    // CPython's kind of lock stays taken after its holder is killed.
    assert!(out.position("semaphore holder pid=") < out.position("main: holder exit code"));
    assert_eq!(out.count("main: holder exit code -9; acquire(timeout=0.5) -> false, for ever"), 1);
    // The robust one is handed to the next locker, with the half-done transfer to repair.
    assert_eq!(out.count("main: transfer exit code -9"), 1);
    assert_eq!(
        out.count("repair: holder_died=true with Accounts { alice: 70, bob: 0, moving: 30 }"),
        1
    );
    assert_eq!(out.count("repair: rolled back to Accounts { alice: 100, bob: 0, moving: 0 }"), 1);
    assert_eq!(
        out.count("main: holder_died=false, Accounts { alice: 100, bob: 0, moving: 0 }, total 100"),
        1
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
    let timed = out.line("pop_timeout(0.1)");
    assert!(timed.contains("-> Err(Timeout) after") && number_after(timed, "after ") >= 100);
}

/// A signal to the parent while both children wait for the manager's lock ends the
/// whole tree (parent, server, two children) within a second.
#[test]
fn manager_dies_with_its_server_and_children() {
    let bin = env!("CARGO_BIN_EXE_manager");
    for seen in interrupt_each(bin, &[], "clients waiting", 4, Duration::from_secs(1)) {
        assert_eq!(seen.alive.len(), 4, "{}: {:?}", seen.signal, seen.alive);
    }
}

/// A signal while the parent waits in `put(timeout=0.2)` on a full queue. Its filler
/// child has exited by then; what must not be left is the queue itself (its channel
/// and the shared semaphore), which the harness checks.
#[test]
fn queue_dies_in_a_timed_put() {
    let bin = env!("CARGO_BIN_EXE_queue");
    interrupt_each(bin, &[], "parent: full=true", 1, Duration::from_secs(1));
}

/// Ctrl-C or SIGTERM right after the named segment was created: the signal waits
/// until the name is removed, so nothing is left in the run's /dev/shm (the harness
/// checks), and then ends the program and its adders.
#[test]
fn value_interrupted_leaves_no_segment() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let seen = interrupt(
            env!("CARGO_BIN_EXE_value"),
            &[],
            "named: created segment",
            1,
            signal,
            Duration::from_secs(1),
        );
        let out = &seen.gone.output;
        out.line("named: created segment /");
        println!("value, {signal}: last line {:?}", out.lines().last());
    }
}
