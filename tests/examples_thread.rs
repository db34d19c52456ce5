//! Runs every `examples-thread` binary and checks what its note says should happen.

use harness::{Policy, number_after, run};

#[test]
fn thread_args() {
    let out = run(env!("CARGO_BIN_EXE_thread_args"), &[]);
    out.assert_success();
    for i in 0..3 {
        assert_eq!(out.count(&format!("Thread-1 (sing): singing...{i}")), 1);
        assert_eq!(out.count(&format!("Thread-2 (dance): dancing...{i}")), 1);
    }
    // Sing and dance ran at the same time: each started before the other's last line.
    assert!(out.position("singing...0") < out.position("dancing...2"));
    assert!(out.position("dancing...0") < out.position("singing...2"));
    // args=(5,), then kwargs={"count": 3}, after both.
    let lines = out.lines();
    assert_eq!(lines[6..], ["task: 5 steps done", "task: 3 steps done"]);
}

#[test]
fn thread_subclass() {
    let out = run(env!("CARGO_BIN_EXE_thread_subclass"), &[]);
    out.assert_success();
    let mut took = Vec::new();
    for film in ["Venom", "Kong"] {
        let started = out.position(&format!("downloading film: {film}"));
        assert!(started < out.position(&format!("{film}: download finished")));
        let takes = out.line(&format!("{film}: takes "));
        let seconds: f64 = takes.split(' ').nth(2).unwrap().parse().unwrap();
        assert!((0.3..=0.7).contains(&seconds), "{takes}");
        took.push(seconds);
    }
    // Both started before either finished, and the whole took less than the sum.
    let first_end =
        out.position("Venom: download finished").min(out.position("Kong: download finished"));
    assert!(
        out.position("downloading film: Venom").max(out.position("downloading film: Kong"))
            < first_end
    );
    let last = out.line("elapsed ");
    assert!(last.ends_with(": they ran at the same time"), "{last}");
    assert!(
        last.contains(&format!("downloads of {:.1} s and {:.1} s", took[0], took[1])),
        "{last}"
    );
}

#[test]
fn thread_api() {
    let out = run(env!("CARGO_BIN_EXE_thread_api"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines[0], "getName()=Thread-1 (download), is_alive()=true");
    assert_eq!(
        lines[1],
        r#"after setName: active_count()=2, enumerate()=["MainThread", "downloader"]"#
    );
    // join(0.1) waited about 0.1 s and returned with the thread still running.
    assert!(lines[2].starts_with("join(0.1) returned after 0.1"), "{}", lines[2]);
    assert!(lines[2].ends_with(" s, is_alive()=true"), "{}", lines[2]);
    assert_eq!(
        lines[3..],
        ["downloader: Venom downloaded", "join(): is_alive()=false, active_count()=1"]
    );
}

#[test]
fn daemon_thread() {
    let out = run(env!("CARGO_BIN_EXE_daemon_thread"), &[]);
    out.assert_success();
    let lines = out.lines();
    let joined_at = out.position("daemon_thread joined:");
    let (daemon, joined) = (&lines[1..joined_at], &lines[joined_at + 1..]);
    // The daemon run ends with main's line: its thread was cut off before finishing.
    assert_eq!(daemon.last(), Some(&"  | main: end of main's code"), "{}", out.show());
    assert!(!daemon.iter().any(|l| l.contains("finished")));
    // The joined run: the thread's last steps come after main's line.
    let end = joined.iter().position(|l| *l == "  | main: end of main's code").unwrap();
    assert_eq!(joined.last(), Some(&"  | show_info: finished"));
    assert!(joined[end + 1..].contains(&"  | show_info: 3/3"));
    assert_eq!(joined.iter().filter(|l| l.contains("show_info: ")).count(), 4);
}

#[test]
fn daemon_thread_rejects_bad_arguments() {
    for args in [&["forever"][..], &[""], &["joined", "twice"]] {
        let out = run(env!("CARGO_BIN_EXE_daemon_thread"), args);
        assert_eq!(out.status.code(), Some(2), "{}", out.show());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.show());
    }
}

#[test]
fn unordered() {
    let out = run(env!("CARGO_BIN_EXE_unordered"), &[]);
    out.assert_success();
    // Round 1: every thread printed once.
    let mut ran: Vec<&str> = out.lines().into_iter().filter(|l| l.ends_with(": running")).collect();
    assert_eq!(ran.len(), 5);
    ran.sort_unstable();
    assert_eq!(ran, (0..5).map(|i| format!("thread {i}: running")).collect::<Vec<_>>());
    let distinct = number_after(out.line("main: started 0 to 4 in order;"), "gave ");
    assert!((1..=100).contains(&distinct));
}

#[test]
fn shared_globals() {
    let out = run(env!("CARGO_BIN_EXE_shared_globals"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines[0], "main: g_num=0 my_list=[]");
    assert!(
        lines[1].starts_with("add: in a thread of pid ")
            && lines[1].ends_with("g_num=100 my_list=[1]")
    );
    assert_eq!(lines[2], "main: after the thread, g_num=100 my_list=[1]");
    assert!(
        lines[3].starts_with("add: in child process ")
            && lines[3].ends_with("g_num=200 my_list=[1, 1]")
    );
    assert_eq!(lines[4], "main: after the process, g_num=100 my_list=[1]");
    let (main, child) = (number_after(lines[1], "pid "), number_after(lines[3], "process "));
    assert_ne!(main, child);
}

#[test]
fn thread_local() {
    let out = run(env!("CARGO_BIN_EXE_thread_local"), &[]);
    out.assert_success();
    // The global: all three threads read one and the same name back.
    let read: Vec<&str> = out
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("global: "))
        .map(|l| l.rsplit("read ").next().unwrap())
        .collect();
    assert_eq!(read.len(), 3);
    assert!(read.iter().all(|r| *r == read[0]), "{read:?}");
    // The thread-local: each reads its own; main's was never set.
    for name in ["Alice", "Bob", "Carol"] {
        assert_eq!(out.count(&format!(r#"local: {name} set "{name}", read "{name}""#)), 1);
    }
    assert_eq!(out.count(r#"local: main never set it, reads "(nobody)""#), 1);
}

#[test]
fn every_example_refuses_arguments() {
    for bin in [
        env!("CARGO_BIN_EXE_thread_args"),
        env!("CARGO_BIN_EXE_thread_subclass"),
        env!("CARGO_BIN_EXE_thread_api"),
        env!("CARGO_BIN_EXE_unordered"),
        env!("CARGO_BIN_EXE_shared_globals"),
        env!("CARGO_BIN_EXE_thread_local"),
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
    let (std, quiet) = (Policy::Std, Policy::Quiet); // quiet: it starts a process
    let binaries: [(&str, &[&str], Policy); 7] = [
        (env!("CARGO_BIN_EXE_thread_args"), &[], std),
        (env!("CARGO_BIN_EXE_thread_subclass"), &[], std),
        (env!("CARGO_BIN_EXE_thread_api"), &[], std),
        (env!("CARGO_BIN_EXE_daemon_thread"), &[], std),
        (env!("CARGO_BIN_EXE_unordered"), &[], std),
        (env!("CARGO_BIN_EXE_shared_globals"), &[], quiet),
        (env!("CARGO_BIN_EXE_thread_local"), &[], std),
    ];
    harness::stress_all_with(env!("CARGO_MANIFEST_DIR"), &binaries);
}
