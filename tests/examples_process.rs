//! Runs every `examples-process` binary and checks what its note says should happen.

use harness::svg::run_with_timeline;
use harness::{field, run};

#[test]
fn process_args() {
    let out = run(env!("CARGO_BIN_EXE_process_args"), &[]);
    out.assert_success();
    // The child printed its positional and named arguments, twice.
    assert_eq!(out.count(r#"child: name=test age=18 kwargs={"m": 23}"#), 2, "{}", out.show());
    // The handle's life: not alive before start, alive after, ended after join.
    assert!(out.line("(before start)").contains("name=Process-1 is_alive=false exitcode=None"));
    assert!(out.line("(after start)").contains("is_alive=true exitcode=None"));
    assert!(out.line("(after join)").contains("is_alive=false exitcode=Some(0)"));
    assert_eq!(out.count("main: names Process-2 and worker"), 1);
    // args=(5,) and kwargs={"count": 3}: five and three steps, in order, one run after the other.
    assert_eq!(out.count_containing("/5"), 5);
    assert_eq!(out.count_containing("/3"), 3);
    assert!(out.position("task: done after 5") < out.position("task: working 1/3"));
    assert!(out.stdout.ends_with("main: ok, all three children exited with code 0\n"));
}

#[test]
fn process_subclass() {
    let out = run(env!("CARGO_BIN_EXE_process_subclass"), &[]);
    out.assert_success();
    // The child's parent is the main process.
    let main_pid = field(out.line("main: pid="), "pid").unwrap();
    let start = out.line("child: start");
    assert_eq!(field(start, "ppid"), Some(main_pid), "{}", out.show());
    assert_eq!(field(out.line("child: done"), "pid"), field(start, "pid"));
    // join(timeout) returned while the child ran: main's lines come before the child's end.
    assert!(out.line("join(0.3 s) returned").contains("None; ClockProc-1 is_alive=true"));
    assert!(out.position("child: start") < out.position("main: done waiting"));
    assert!(out.position("main: done waiting") < out.position("child: done"));
    assert!(out.position("child: done") < out.position("ClockProc-1 exited with code 0"));
    // Four runners, each starting and ending once, all after main's "started" line.
    let started = out.position("main: started all four");
    for name in ["anne", "alex", "ab", "hey"] {
        assert_eq!(out.count(&format!("{name} running")), 1);
        assert!(out.position(&format!("{name} running end")) > started);
    }
    assert!(out.stdout.ends_with("main: ok, every child exited with code 0\n"));
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
    assert!(out.position("took") > last("dancing...").max(last("singing...")));
    let started = out.position("main: started all four");
    for name in ["anne", "alice", "biantai", "haha"] {
        assert_eq!(out.count(&format!("{name} running")), 1);
        assert!(out.position(&format!("{name} running end")) > started);
    }
    assert!(out.stdout.ends_with("main: ok, all six children exited with code 0\n"));
}

#[test]
fn process_info() {
    let out = run(env!("CARGO_BIN_EXE_process_info"), &[]);
    out.assert_success();
    let main_pid = field(out.line("main: pid="), "pid").unwrap();
    assert!(
        out.line("main: current_process").contains(&format!("name='MainProcess' pid={main_pid}>"))
    );
    let cpus: usize = field(out.line("cpu_count="), "cpu_count").unwrap().parse().unwrap();
    assert!(cpus >= 1);
    // Both children were listed while running, under their names, and are the main's children.
    assert_eq!(out.count_containing("main: active child <Process name="), 2);
    for (who, name) in [("dance", "myprocess1"), ("sing", "Process-2")] {
        let ids = out.line(&format!("{who}: pid="));
        assert_eq!(field(ids, "ppid"), Some(main_pid));
        let pid = field(ids, "pid").unwrap();
        assert!(
            out.line(&format!("{who}: current_process"))
                .contains(&format!("name='{name}' pid={pid}>"))
        );
        assert!(
            out.stdout.contains(&format!("main: active child <Process name='{name}' pid={pid}>"))
        );
    }
    // The dancer killed itself with signal 9 right after its first line.
    assert_eq!(out.count("dancing..."), 1);
    assert_eq!(out.count("singing..."), 5);
    assert_eq!(out.count("main: myprocess1 exitcode=-9"), 1);
    assert_eq!(out.count("main: Process-2 exitcode=0"), 1);
    assert_eq!(out.count("main: active children after join: 0"), 1);
    assert_eq!(out.count("main: active children before any start: 0"), 1);
    assert_eq!(out.count("main: exitcode while they run: [None, None]"), 1);
    assert_eq!(
        out.count(&format!("sing: parent_process <Process name='MainProcess' pid={main_pid}>")),
        1
    );
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
    // No shared globals: the writer saw its list, the sibling and the parent an empty one.
    assert!(out.position("add_data: g_list=[0, 1, 2]") < out.position("read_data: g_list=[]"));
    assert_eq!(out.count("main: g_list holds 0 items here"), 1);
    let lines = out.lines();
    let daemon_run = out.position("`daemon_terminate daemon`");
    let (non_daemon, daemon) = lines.split_at(daemon_run);
    // The non-daemon child finished all its work after main's last line.
    assert_eq!(non_daemon.iter().filter(|l| l.contains("child: working")).count(), 10);
    assert_eq!(non_daemon.last(), Some(&"  | child: finished"));
    let end =
        non_daemon.iter().position(|l| l.contains("main: end of main (daemon=false)")).unwrap();
    assert!(non_daemon[end + 1..].iter().any(|l| l.contains("child: working")));
    // The daemon child was cut off: its run ends with main's last line.
    let daemon_lines: Vec<&str> =
        daemon[1..].iter().copied().take_while(|l| l.starts_with("  | ")).collect();
    assert_eq!(daemon_lines.last(), Some(&"  | main: end of main (daemon=true)"));
    let worked = daemon_lines.iter().filter(|l| l.contains("child: working")).count();
    assert!(worked < 10, "the daemon was not cut off:\n{}", out.show());
    assert_eq!(out.count("  | child: finished"), 1);
    assert_eq!(out.count("main: after terminate() exitcode=-15"), 1);
    assert_eq!(out.count("main: after kill() exitcode=-9"), 1);
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
    // fork is refused while the logger thread runs, and the message names the others.
    let refused = out.line("fork: refused:");
    assert!(refused.contains("Spawn") && refused.contains("Forkserver"), "{}", out.show());
    // spawn and forkserver children see the program's initial value; fork, once the
    // thread has ended, a copy of the parent's.
    for (method, value) in [("spawn", "0"), ("forkserver", "0"), ("fork", "42")] {
        let child = out.line(&format!("{method}: child "));
        assert!(child.ends_with(&format!("sees GLOBAL = {value}")), "{child}");
        assert!(child.contains("of MainProcess (pid "), "{child}");
        assert_eq!(out.count_containing(&format!("{method}: started and joined in")), 1);
    }
    assert!(out.position("main: the logger has ended") < out.position("fork: child"));
    assert!(out.stdout.ends_with("spawn and forkserver 0 (a fresh start)\n"), "{}", out.show());
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
        steps.len() < 10
            && steps.iter().enumerate().all(|(i, s)| *s == format!("working {}", i + 1))
    );
    assert_eq!(
        (shown.cut, shown.mark_labels.as_slice()),
        (1, ["end of main".to_string()].as_slice())
    );
    // The overview: the two victims are cut off by terminate() and kill().
    let (_, shown) = run_with_timeline(env!("CARGO_BIN_EXE_daemon_terminate"), &[]);
    assert_eq!(shown.spans(), ["add_data", "read_data", "to terminate", "to kill"]);
    assert_eq!((shown.cut, shown.marks), (2, 2));
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
    let dir = std::env::temp_dir().join(format!("planted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
