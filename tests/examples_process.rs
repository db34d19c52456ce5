//! Runs every `examples-process` binary and checks what its note says should happen.

use harness::svg::run_with_timeline;
use harness::{field, number_after, run};

#[test]
fn process_args() {
    let out = run(env!("CARGO_BIN_EXE_process_args"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert_eq!(lines[..2], ["main: starting", "main: the child is about to run"]);
    // The child printed its positional and named arguments, twice, while main saw it alive.
    assert_eq!(out.count(r#"child: name=test, age=18, kwargs={"m": 23}"#), 2, "{}", out.show());
    assert_eq!(out.count("main: is_alive()=true"), 1);
    assert!(out.position("child: name=") < out.position("main: Process-1 ended with exitcode 0"));
    // args=(5,) and kwargs={"count": 3}, one after the other, in their own processes.
    assert_eq!(
        lines[lines.len() - 2..],
        ["task: 5 steps done in Process-2", "task: 3 steps done in Process-3"]
    );
}

#[test]
fn process_subclass() {
    let out = run(env!("CARGO_BIN_EXE_process_subclass"), &[]);
    out.assert_success();
    // join(timeout) returned while the child ran: main's line comes before its end.
    let start = out.line("ClockProc-1: start, pid=");
    assert!(field(start, "pid").is_some() && field(start, "ppid").is_some(), "{start}");
    assert!(out.position("ClockProc-1: start") < out.position("main: join(0.3) returned None"));
    assert!(out.position("main: join(0.3) returned None") < out.position("ClockProc-1: end"));
    // Four runners named by the subclass, each starting and ending once, all after
    // main's "started" line.
    let started = out.position("main: started all four");
    for name in ["anne", "alex", "ab", "hey"] {
        assert_eq!(out.count(&format!("{name} running")), 1);
        assert!(out.position(&format!("{name} running end")) > started);
    }
}

#[test]
fn multitask() {
    let out = run(env!("CARGO_BIN_EXE_multitask"), &[]);
    out.assert_success();
    assert_eq!(out.count("dancing..."), 5);
    assert_eq!(out.count("singing..."), 5);
    // The two ran at the same time: each began before the other finished.
    let lines = out.lines();
    let first = |s: &str| lines.iter().position(|l| *l == s).unwrap();
    let last = |s: &str| lines.iter().rposition(|l| *l == s).unwrap();
    assert!(first("singing...") < last("dancing...") && first("dancing...") < last("singing..."));
    let took = out.line("main: myprocess1 and Process-2 took ");
    assert!(out.position("took") > last("dancing...").max(last("singing...")));
    let seconds: f64 = took.split(' ').nth(5).unwrap().parse().unwrap();
    assert!(seconds >= 0.9, "{took}");
    let started = out.position("main: started all four");
    for name in ["anne", "alice", "biantai", "haha"] {
        assert_eq!(out.count(&format!("{name} running")), 1);
        assert!(out.position(&format!("{name} running end")) > started);
    }
}

#[test]
fn process_info() {
    let out = run(env!("CARGO_BIN_EXE_process_info"), &[]);
    out.assert_success();
    let main = out.line("main: pid=");
    let main_pid = field(main, "pid").unwrap();
    assert!(main.ends_with(&format!("<Process name='MainProcess' pid={main_pid}>")), "{main}");
    for (who, name) in [("dance", "myprocess1"), ("sing", "Process-2")] {
        let ids = out.line(&format!("{who}: pid="));
        assert_eq!(field(ids, "ppid"), Some(main_pid));
        let pid = field(ids, "pid").unwrap();
        assert!(ids.ends_with(&format!("<Process name='{name}' pid={pid}>")), "{ids}");
    }
    let listed = out.line("main: active_children: ");
    assert!(listed.starts_with("main: active_children: myprocess1, Process-2; cpu_count="));
    assert!(number_after(listed, "cpu_count=") >= 1);
    // The dancer killed itself with signal 9 right after its first line.
    assert_eq!(out.count("dancing..."), 1);
    assert_eq!(out.count("singing..."), 5);
    assert_eq!(out.lines().last(), Some(&"main: exitcodes: myprocess1 -9, Process-2 0"));
}

#[test]
fn fork() {
    let out = run(env!("CARGO_BIN_EXE_fork"), &[]);
    out.assert_success();
    let parent_pid = field(out.line("main: before fork"), "pid").unwrap();
    let child_line = out.line("child: fork returned 0");
    let parent_line = out.line("parent: fork returned");
    // fork's two returns: 0 in the child, the child's pid in the parent.
    assert_eq!(field(parent_line, "child_pid"), field(child_line, "pid"));
    assert_eq!(field(child_line, "ppid"), Some(parent_pid));
    assert_eq!(field(parent_line, "pid"), Some(parent_pid));
    // The child's changes stay in the child; its exit code reaches the parent.
    assert!(out.line("child: g_num=").starts_with("child: g_num=100 list=[1, 2, 3, 4]"));
    assert!(out.position("child: g_num=") < out.position("parent: waitpid"));
    assert!(out.line("parent: waitpid").ends_with(", 3)"));
    assert!(out.line("parent: g_num=").starts_with("parent: g_num=10 list=[1, 2, 3]"));
}

#[test]
fn daemon_terminate() {
    let out = run(env!("CARGO_BIN_EXE_daemon_terminate"), &[]);
    out.assert_success();
    let lines = out.lines();
    let daemon_run = out.position("`daemon_terminate daemon`");
    let (non_daemon, daemon) = lines.split_at(daemon_run);
    // The non-daemon child finished all its work after main's last line.
    assert_eq!(non_daemon.iter().filter(|l| l.contains("child: working")).count(), 3);
    assert_eq!(non_daemon.last(), Some(&"  | child: finished"));
    let end = non_daemon.iter().position(|l| l.contains("main: end of main")).unwrap();
    assert!(non_daemon[end + 1..].iter().any(|l| l.contains("child: working")));
    // The daemon child was cut off: its run ends with main's last line.
    let daemon_lines: Vec<&str> =
        daemon[1..].iter().copied().take_while(|l| l.starts_with("  | ")).collect();
    assert_eq!(daemon_lines.last(), Some(&"  | main: end of main"));
    assert!(daemon_lines.iter().filter(|l| l.contains("child: working")).count() < 3);
    assert_eq!(out.count("  | child: finished"), 1);
    assert_eq!(
        lines.last(),
        Some(&"main: daemon after start() refused: true; after terminate() exitcode=-15")
    );
}

#[test]
fn daemon_terminate_answers_help_and_rejects_bad_arguments() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_daemon_terminate"),
        &[&["sometimes"], &[""], &["daemon", "twice"]],
    );
}

#[test]
fn file_share() {
    let out = run(env!("CARGO_BIN_EXE_file_share"), &[]);
    out.assert_success();
    out.line("main: the children write to an unnamed file in ");
    // Two children appended three lines each; the parent read all six, counted in the
    // children's own copies of `counter` (1, 2, 3 and 10, 20, 30).
    let read: Vec<_> =
        out.lines().into_iter().filter(|l| l.starts_with("main: read from file: pid=")).collect();
    assert_eq!(read.len(), 6);
    let mut counts: Vec<u32> =
        read.iter().map(|l| field(l, "counter").unwrap().parse().unwrap()).collect();
    counts.sort();
    assert_eq!(counts, [1, 2, 3, 10, 20, 30]);
    let writers: std::collections::BTreeSet<_> =
        read.iter().map(|l| field(l, "pid").unwrap()).collect();
    assert_eq!(writers.len(), 2);
    assert_eq!(out.count("main: counter=0 here; the children counted in their own copies"), 1);
}

/// The shared file never has a name another program could plant a link at, open or
/// read (before, it was `$TMPDIR/file_share-<pid>.txt`, opened with create-or-append,
/// world-readable while it existed). Watched while the program runs, several times.
#[test]
fn file_share_never_names_its_file() {
    for _ in 0..5 {
        let run = harness::Running::start(env!("CARGO_BIN_EXE_file_share"), &[]);
        let tmp = run.tmp_dir().to_path_buf();
        let watcher = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while seen.is_empty() {
                match std::fs::read_dir(&tmp) {
                    Ok(dir) => seen.extend(dir.flatten().map(|e| e.file_name())),
                    Err(_) => break, // the run is over: its TMPDIR was removed
                }
            }
            seen
        });
        let out = run.finish(harness::TIMEOUT);
        out.assert_success();
        let seen = watcher.join().unwrap();
        assert!(seen.is_empty(), "a name appeared in its TMPDIR: {seen:?}");
    }
}

#[test]
fn start_methods() {
    let out = run(env!("CARGO_BIN_EXE_start_methods"), &[]);
    out.assert_success();
    // spawn and forkserver children see the program's initial value; fork a copy of
    // the parent's.
    for (method, value, n) in [("fork", "42", 1), ("spawn", "0", 2), ("forkserver", "0", 3)] {
        let child = out.line(&format!("{method}: child "));
        assert!(child.ends_with(&format!("sees GLOBAL = {value}")), "{child}");
        assert!(child.contains(&format!("child Process-{n} (pid ")), "{child}");
        assert!(child.contains("of MainProcess (pid "), "{child}");
    }
    // fork is refused while a second thread runs, and the message names the others.
    let refused = out.line("fork, with a second thread running: refused:");
    assert!(refused.contains("Spawn") && refused.contains("Forkserver"), "{}", out.show());
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let binaries: [(&str, &[&str]); 8] = [
        (env!("CARGO_BIN_EXE_process_args"), &[]),
        (env!("CARGO_BIN_EXE_start_methods"), &[]),
        (env!("CARGO_BIN_EXE_process_subclass"), &[]),
        (env!("CARGO_BIN_EXE_multitask"), &[]),
        (env!("CARGO_BIN_EXE_process_info"), &[]),
        (env!("CARGO_BIN_EXE_fork"), &[]),
        (env!("CARGO_BIN_EXE_daemon_terminate"), &[]),
        (env!("CARGO_BIN_EXE_file_share"), &[]),
    ];
    harness::stress_all(env!("CARGO_MANIFEST_DIR"), &binaries);
}

#[test]
fn multitask_timeline() {
    let (_, shown) = run_with_timeline(env!("CARGO_BIN_EXE_multitask"), &[]);
    // Main (its mark) and the six children it started, one row each.
    assert_eq!(shown.names().len(), 7, "{shown:?}");
    assert_eq!(shown.row("myprocess1"), ["dancing"; 5]);
    assert_eq!(shown.row("Process-2"), ["singing"; 5]);
    let mut runners: Vec<&str> =
        shown.spans().into_iter().filter(|s| !["dancing", "singing"].contains(s)).collect();
    runners.sort();
    assert_eq!(runners, ["alice", "anne", "biantai", "haha"], "{shown:?}");
    assert_eq!(shown.spans().len(), 14);
    assert_eq!(shown.mark_labels, ["started all four"]);
    assert_eq!(shown.cut, 0);
}

#[test]
fn daemon_terminate_timeline() {
    let (out, shown) = run_with_timeline(env!("CARGO_BIN_EXE_daemon_terminate"), &["daemon"]);
    assert_eq!(shown.names().len(), 2, "{shown:?}");
    assert_eq!(shown.row("MainProcess"), ["main"]);
    // The daemon's steps, the last one cut off when main ended.
    let steps = shown.row("Process-1");
    assert_eq!(steps.len(), out.count_containing("child: working"));
    assert!(
        steps.len() < 4
            && steps.iter().enumerate().all(|(i, s)| *s == format!("working {}", i + 1))
    );
    assert_eq!(
        (shown.cut, shown.mark_labels.as_slice()),
        (1, ["end of main".to_string()].as_slice())
    );
}

#[test]
fn a_bad_timeline_path_is_a_usage_error() {
    for args in
        [&["--timeline", "/no/such/dir/t.svg"][..], &["--timeline"], &["--timeline", "/tmp"]]
    {
        let out = run(env!("CARGO_BIN_EXE_multitask"), args);
        out.assert_usage_error(); // one line, exit code 2, nothing run
        assert!(out.stderr.contains("--timeline"), "{}", out.show());
    }
    harness::check_arguments(env!("CARGO_BIN_EXE_multitask"), &[&["extra"]]);
    for bin in [
        env!("CARGO_BIN_EXE_process_args"),
        env!("CARGO_BIN_EXE_process_subclass"),
        env!("CARGO_BIN_EXE_process_info"),
        env!("CARGO_BIN_EXE_fork"),
        env!("CARGO_BIN_EXE_file_share"),
        env!("CARGO_BIN_EXE_start_methods"),
    ] {
        // An example that draws no timeline says so instead of ignoring the flag.
        let out = run(bin, &["--timeline", "t.svg"]);
        out.assert_usage_error();
        assert!(out.stderr.contains("unexpected argument \"--timeline\""), "{}", out.show());
    }
    let help = run(env!("CARGO_BIN_EXE_multitask"), &["--help"]);
    assert_eq!(help.stdout, "usage: multitask [--timeline FILE.svg]\n", "{}", help.show());
    let out = run(
        env!("CARGO_BIN_EXE_daemon_terminate"),
        &["daemon", "--timeline", "/no/such/dir/t.svg"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", out.show());
}

/// `--timeline FILE` never writes through a link planted beside FILE (before, it wrote
/// `FILE.<pid>.tmp`, following a link there, and so overwrote whatever it pointed to).
#[test]
fn a_timeline_never_writes_through_a_planted_link() {
    let dir = harness::make_private_dir("planted");
    let private = dir.join("private.txt");
    std::fs::write(&private, "private").unwrap();
    let target = dir.join("out.svg");
    let target_text = target.to_string_lossy().into_owned();
    let run =
        harness::Running::start(env!("CARGO_BIN_EXE_multitask"), &["--timeline", &target_text]);
    // The name it would have used, planted while it runs (it writes at its end).
    std::os::unix::fs::symlink(&private, dir.join(format!("out.svg.{}.tmp", run.pid()))).unwrap();
    let out = run.finish(harness::TIMEOUT);
    let svg = std::fs::read_to_string(&target);
    let kept = std::fs::read_to_string(&private);
    let _ = std::fs::remove_dir_all(&dir);
    out.assert_success();
    assert_eq!(kept.unwrap(), "private", "written through the planted link");
    assert!(svg.unwrap().starts_with("<svg"), "the timeline itself was written");
}
