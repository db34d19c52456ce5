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
    // Two threads given "t1" and "t2" as arguments, each counting down 2s, 1s, 0s.
    for label in ["t1", "t2"] {
        assert_eq!(out.count(&format!("task {label}")), 1);
        let steps: Vec<usize> =
            ["2s", "1s", "0s"].iter().map(|s| out.position(&format!("{s} ({label})"))).collect();
        assert!(
            steps.windows(2).all(|w| w[0] < w[1]),
            "{label} counted out of order\n{}",
            out.show()
        );
    }
    // CPython's names: the main thread, then Thread-N (target), N counting from 1.
    assert!(out.line("main: the current thread is").contains("<_MainThread(MainThread, started "));
    assert!(out.line("sing: the current thread is").contains("<Thread(Thread-1 (sing), started "));
    assert!(
        out.line("dance: the current thread is").contains("<Thread(Thread-2 (dance), started ")
    );
    let names = out.line("main: the countdown threads were named");
    assert!(names.contains("Thread-5 (run)") && names.contains("Thread-6 (run)"), "{names}");
    assert!(out.stdout.ends_with("main: ok, sing and dance overlapped\n"));
}

#[test]
fn thread_subclass() {
    let out = run(env!("CARGO_BIN_EXE_thread_subclass"), &[]);
    out.assert_success();
    // From a function (Hands Up, Venom), then from the class (Venom, Kong): four
    // downloads, each started and finished once per batch.
    assert_eq!(out.count("downloading film: Venom"), 2);
    for film in ["Hands Up", "Kong"] {
        assert!(
            out.position(&format!("downloading film: {film}"))
                < out.position(&format!("{film}: download finished"))
        );
    }
    let class_batch = out.position("main: the downloads started from a function overlapped");
    assert!(out.position("Hands Up: download finished") < class_batch);
    assert!(class_batch < out.position("downloading film: Kong"));
    // Each batch's downloads began before the other ended (measured by the example).
    assert_eq!(out.count("main: the downloads started from a function overlapped: true"), 1);
    assert_eq!(out.count("main: the downloads overlapped: true"), 1);
    // MyThread("t1") and MyThread("t2"): the label, then 2s, 1s, 0s in order.
    for label in ["t1", "t2"] {
        assert_eq!(out.count(&format!("task {label}")), 1);
        let steps: Vec<usize> =
            ["2s", "1s", "0s"].iter().map(|s| out.position(&format!("{s} ({label})"))).collect();
        assert!(steps.windows(2).all(|w| w[0] < w[1]), "{label}\n{}", out.show());
    }
    // The function-wrapping thread type ran each function on a thread with its name.
    assert_eq!(out.count("adder-1: 1 + 2 = 3"), 1);
    assert_eq!(out.count("adder-2: 30 + 40 = 70"), 1);
    assert!(out.stdout.ends_with("main: ok\n"));
}

#[test]
fn thread_api() {
    let out = run(env!("CARGO_BIN_EXE_thread_api"), &[]);
    out.assert_success();
    let main = out.line("main: name=");
    assert!(main.starts_with("main: name=MainThread native_id="), "{main}");
    // The worker is another thread of the same process, shown as CPython shows it.
    let worker = out.line("worker: I am");
    assert!(worker.starts_with("worker: I am <Thread(worker, started "), "{worker}");
    assert!(!worker.contains(&format!("started {})", field(main, "native_id").unwrap())));
    // CPython's default name, target in brackets; the thread sees the same name.
    assert_eq!(
        out.count(r#"main: the unnamed thread was "Thread-1 (report)" and saw itself as "Thread-1 (report)""#),
        1
    );
    // Renamed while running; two threads running then.
    assert_eq!(out.count(r#"main: active_count()=2, enumerate()=["MainThread", "downloader"]"#), 1);
    assert_eq!(out.count("worker: finished, now named downloader"), 1);
    // The timed join returned while the worker ran; the full join waited for its end.
    assert_eq!(out.count("main: join(0.1) timed out=true; worker is_alive=true"), 1);
    assert!(out.position("timed out=true") < out.position("worker: finished"));
    assert!(out.position("worker: finished") < out.position("main: joined"));
    assert!(
        out.line("main: joined")
            .ends_with(r#""downloader"; the channel now says Err(Disconnected)"#)
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
    harness::check_arguments(
        env!("CARGO_BIN_EXE_daemon_thread"),
        &[&["forever"], &[""], &["joined", "twice"]],
    );
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
    // The global: all three threads read one and the same name back.
    let shared: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("global: "))
        .map(|l| l.rsplit("student=").next().unwrap())
        .collect();
    assert_eq!(shared.len(), 3);
    assert!(
        shared.iter().all(|s| *s == shared[0]) && ["Alice", "Bob", "Carol"].contains(&shared[0])
    );
    // The thread-local: each reads its own.
    for name in ["Alice", "Bob", "Carol"] {
        let line = format!("thread-local: thread of {name} reads student={name}");
        assert_eq!(out.count(&line), 1, "{}", out.show());
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

#[test]
fn unordered_timeline() {
    let (out, shown) = harness::svg::run_with_timeline(env!("CARGO_BIN_EXE_unordered"), &[]);
    // Main (its five "start i" marks) and the five threads of round 1.
    let names = shown.names();
    assert_eq!(names.len(), 6, "{shown:?}");
    assert!(names[0].starts_with("MainProcess"));
    assert_eq!(names[1..], ["thread 0", "thread 1", "thread 2", "thread 3", "thread 4"]);
    assert_eq!(shown.spans(), ["ran"; 5]);
    assert_eq!(shown.mark_labels, ["start 0", "start 1", "start 2", "start 3", "start 4"]);
    assert!(out.stdout.contains("main: round 1 ran in order"));
}
