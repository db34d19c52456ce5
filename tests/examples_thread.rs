//! Runs every `examples-thread` binary and checks what its note says should happen.

use harness::{field, number_after, run};

#[test]
fn thread_args() {
    let out = run(env!("CARGO_BIN_EXE_thread_args"), &[]);
    out.assert_success();
    for i in 0..3 {
        assert_eq!(out.count(&format!("singing {i}")), 1);
        assert_eq!(out.count(&format!("dancing {i}")), 1);
    }
    // Sing and dance ran at the same time: each started before the other's last line.
    assert!(out.position("singing 0") < out.position("dancing 2"));
    assert!(out.position("dancing 0") < out.position("singing 2"));
    // args=(5,) then kwargs={"count": 3}, one after the other.
    assert_eq!(out.count_containing("/5"), 5);
    assert_eq!(out.count_containing("/3"), 3);
    assert!(out.position("task: done after 5") < out.position("task: working 1/3"));
    // Two named threads, each counting down 2s, 1s, 0s in its own order.
    for name in ["t1", "t2"] {
        assert_eq!(out.count(&format!("task {name}")), 1);
        let steps: Vec<usize> =
            ["2s", "1s", "0s"].iter().map(|s| out.position(&format!("{name}: {s}"))).collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "{name} counted out of order\n{}",
            out.show()
        );
    }
    assert!(out.stdout.ends_with("main: ok, sing and dance overlapped\n"));
}

#[test]
fn thread_subclass() {
    let out = run(env!("CARGO_BIN_EXE_thread_subclass"), &[]);
    out.assert_success();
    for film in ["Venom", "Kong"] {
        assert!(
            out.position(&format!("downloading film: {film}"))
                < out.position(&format!("{film}: download finished"))
        );
    }
    // Both downloads started before either finished.
    let last_start =
        out.position("downloading film: Venom").max(out.position("downloading film: Kong"));
    let first_end =
        out.position("Venom: download finished").min(out.position("Kong: download finished"));
    assert!(last_start < first_end, "{}", out.show());
    // Each download began before the other ended (measured by the example).
    assert_eq!(out.count("main: the downloads overlapped: true"), 1);
    // The function-wrapping thread type ran each function on a thread with its name.
    assert_eq!(out.count("adder-1: 1 + 2 = 3"), 1);
    assert_eq!(out.count("adder-2: 30 + 40 = 70"), 1);
    assert!(out.stdout.ends_with("main: ok\n"));
}

#[test]
fn thread_api() {
    let out = run(env!("CARGO_BIN_EXE_thread_api"), &[]);
    out.assert_success();
    assert!(out.line("main: name=").starts_with(r#"main: name=Some("main") id=ThreadId(1)"#));
    let worker = out.line("worker: name=");
    assert!(worker.starts_with(r#"worker: name=Some("worker")"#));
    // The worker is another OS thread of the same process.
    assert_ne!(field(worker, "native_id"), field(out.line("main: name="), "native_id"));
    assert!(out.line("unnamed thread").ends_with("name=None"));
    // The timed join returned while the worker ran; the full join waited for its end.
    assert_eq!(out.count("main: join(0.1) timed out=true; worker is_alive=true"), 1);
    assert!(out.position("timed out=true") < out.position("worker: finished"));
    assert!(out.position("worker: finished") < out.position("main: joined"));
    assert!(
        out.line("main: joined")
            .ends_with(r#"Some("worker"); the channel now says Err(Disconnected)"#)
    );
}

#[test]
fn daemon_thread() {
    let out = run(env!("CARGO_BIN_EXE_daemon_thread"), &[]);
    out.assert_success();
    let lines = out.lines();
    let (joined, detached) = lines.split_at(out.position("`daemon_thread detached`"));
    // Joined: all five steps and the end, some of them after main's code ended.
    assert_eq!(joined.iter().filter(|l| l.starts_with("  | worker: step")).count(), 5);
    assert_eq!(joined.last(), Some(&"  | worker: finished"));
    let end = joined.iter().position(|l| *l == "  | main: end of main's code").unwrap();
    assert!(joined[end + 1..].iter().any(|l| l.contains("worker: step")));
    // Detached: the run's output ends with main's last line; the worker was cut off.
    let run: Vec<&str> =
        detached[1..].iter().copied().take_while(|l| l.starts_with("  | ")).collect();
    assert_eq!(run.last(), Some(&"  | main: end of main's code"), "{}", out.show());
    assert!(run.iter().filter(|l| l.contains("worker: step")).count() < 5);
    assert!(!run.iter().any(|l| l.contains("worker: finished")));
}

#[test]
fn daemon_thread_answers_help_and_rejects_bad_arguments() {
    for help in ["--help", "-h"] {
        run(env!("CARGO_BIN_EXE_daemon_thread"), &[help]).assert_help();
    }
    for args in [&["forever"][..], &[""], &["joined", "twice"]] {
        run(env!("CARGO_BIN_EXE_daemon_thread"), args).assert_usage_error();
    }
    harness::run_with_non_utf8_argument(env!("CARGO_BIN_EXE_daemon_thread")).assert_usage_error();
}

#[test]
fn unordered() {
    let out = run(env!("CARGO_BIN_EXE_unordered"), &[]);
    out.assert_success();
    // Round 1: every thread printed once, and the printed order is the reported order.
    let printed: Vec<&str> = out.lines().into_iter().filter(|l| l.ends_with(": running")).collect();
    assert_eq!(printed.len(), 5);
    let printed: Vec<String> = printed
        .iter()
        .map(|l| l.trim_start_matches("thread ").trim_end_matches(": running").to_string())
        .collect();
    let mut sorted = printed.clone();
    sorted.sort();
    assert_eq!(sorted, ["0", "1", "2", "3", "4"]);
    assert_eq!(
        out.line("round 1 ran in order"),
        format!("main: round 1 ran in order [{}]", printed.join(", "))
    );
    // The counts add up: between 1 and 120 (5!) distinct orders, start order at most 200 times.
    let distinct = number_after(out.line("distinct orders"), "gave ");
    assert!((1..=120).contains(&distinct));
    let start_order = number_after(out.line("start order came out"), "came out ");
    assert!(start_order <= 200);
}

#[test]
fn shared_globals() {
    let out = run(env!("CARGO_BIN_EXE_shared_globals"), &[]);
    out.assert_success();
    assert_eq!(out.count("main: at first g_num=0 my_list=[]"), 1);
    let main_pid = field(out.lines()[1], "pid").unwrap();
    // The thread runs in main's process and its writes stay; the child's do not.
    let writers: Vec<&str> = out.lines().into_iter().filter(|l| l.starts_with("add:")).collect();
    assert_eq!(writers.len(), 2);
    assert!(writers[0].ends_with("g_num=100 my_list=[1]"));
    assert!(writers[1].ends_with("g_num=200 my_list=[1, 1]"));
    assert_eq!(field(writers[0], "pid"), Some(main_pid));
    assert_ne!(field(writers[1], "pid"), Some(main_pid));
    assert_eq!(out.count("main: after the thread g_num=100 my_list=[1]"), 1);
    assert_eq!(out.count("main: after the process g_num=100 my_list=[1]"), 1);
}

#[test]
fn thread_local() {
    let out = run(env!("CARGO_BIN_EXE_thread_local"), &[]);
    out.assert_success();
    for name in ["Alice", "Bob", "Carol"] {
        assert_eq!(out.count(&format!("thread of {name}: student={name}")), 1, "{}", out.show());
    }
    assert_eq!(out.count(r#"main: student="" (untouched)"#), 1);
    // One initialisation per thread that used the counter, and none in main.
    assert_eq!(out.count_containing(": counter initialised"), 3);
    assert_eq!(out.count("main: the shared map still holds 3 entries after its threads ended"), 1);
    assert!(out.stdout.ends_with("main: ok, every thread read its own value\n"));
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let binaries: [(&str, &[&str]); 7] = [
        (env!("CARGO_BIN_EXE_thread_args"), &[]),
        (env!("CARGO_BIN_EXE_thread_subclass"), &[]),
        (env!("CARGO_BIN_EXE_thread_api"), &[]),
        (env!("CARGO_BIN_EXE_daemon_thread"), &[]),
        (env!("CARGO_BIN_EXE_unordered"), &[]),
        (env!("CARGO_BIN_EXE_shared_globals"), &[]),
        (env!("CARGO_BIN_EXE_thread_local"), &[]),
    ];
    harness::stress_all(env!("CARGO_MANIFEST_DIR"), &binaries);
}
