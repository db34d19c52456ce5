//! Runs every `examples-pool` binary and checks what its note says should happen.

use std::collections::BTreeSet;

use std::time::Duration;

use harness::{Signal, interrupt_each, number_after, run};

/// Ctrl-C, `kill`, `kill -9`: each must end the whole tree at once.

#[test]
fn pool_async() {
    let out = run(env!("CARGO_BIN_EXE_pool_async"), &[]);
    out.assert_success();
    // Eight tasks, each started and ended once, on at most three worker processes.
    let mut pids = BTreeSet::new();
    for i in 0..8 {
        let start = out.line(&format!("start HH {i} in pid "));
        assert!(out.position(&format!("start HH {i} ")) < out.position(&format!("end HH {i}")));
        pids.insert(number_after(start, "pid "));
    }
    assert!(pids.len() <= 3, "{pids:?}");
    // At most three ran at once: at every line, starts minus ends is 0 to 3.
    let mut running = 0_i32;
    for line in out.lines() {
        running += i32::from(line.starts_with("start HH")) - i32::from(line.starts_with("end HH"));
        assert!((0..=3).contains(&running), "{}", out.show());
    }
    // "done" only after all eight ended: close and join waited for them.
    assert_eq!(out.lines().last(), Some(&"done"));
}

#[test]
fn pool_apply() {
    let out = run(env!("CARGO_BIN_EXE_pool_apply"), &[]);
    out.assert_success();
    let lines = out.lines();
    assert!(lines[0].starts_with("main starts: pid "));
    // apply: one at a time, each task waited for: at least 10 × 50 ms; handed to the
    // five workers in turn. apply_async: all ten at once on five: about two tasks' time.
    let applied = out.line("apply: 10 tasks, one at a time, in ");
    assert!(applied.ends_with(" s on 5 workers"), "{applied}");
    let seconds = |line: &str| -> f64 {
        line.split(" in ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
    };
    assert!(seconds(applied) >= 0.5, "{applied}");
    let at_once = out.line("apply_async: 10 tasks at once, in ");
    assert!(at_once.ends_with(" s on 5 workers") || at_once.contains(" s on "), "{at_once}");
    assert!(seconds(at_once) < seconds(applied), "{}", out.show());
    assert_eq!(lines.last(), Some(&"main ends"));
}

#[test]
fn pool_async_says_which_worker_could_not_start() {
    // Three tasks at most: this program and two workers; the third fork fails.
    match harness::run_under(harness::Fault::TaskLimit(3), env!("CARGO_BIN_EXE_pool_async"), &[]) {
        Err(why) => harness::skipped("pool_async under a task limit", &why),
        Ok(out) => {
            out.assert_code(1);
            let line =
                "cannot start ForkPoolWorker-3: fork failed: Resource temporarily unavailable";
            assert!(out.stderr.contains(line), "{}", out.show());
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.show());
        }
    }
}

#[test]
fn coroutines() {
    let out = run(env!("CARGO_BIN_EXE_coroutines"), &[]);
    out.assert_success();
    // The same 20 naps three ways; the async ones all on one thread.
    assert!(out.line("20 naps in 20 processes:").ends_with(" ms"));
    assert!(out.line("20 naps on 20 threads:").ends_with(" ms"));
    assert!(out.line("20 naps as async tasks:").ends_with(" ms, on 1 thread"));
    assert!(out.line("1000 naps on 1000 threads:").ends_with(" ms"));
    assert!(out.line("1000 naps as async tasks:").ends_with(" ms, on 1 thread"));
    assert_eq!(out.lines().len(), 5);
}

#[test]
fn pool_map() {
    let out = run(env!("CARGO_BIN_EXE_pool_map"), &[]);
    out.assert_success();
    assert_eq!(
        out.lines()[..3],
        ["10 tasks on Pool(4): closed and joined", "100", "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"]
    );
    let timed = out.line("get(timeout=0.1) of a 0.5 s task -> a timeout after ");
    assert!(number_after(timed, "after ") >= 100, "{timed}");
    assert!(timed.ends_with("ms; later get() -> 25"), "{timed}");
}

/// The pids between the brackets of `worker pids [12, 13]`.
fn pid_list(line: &str) -> Vec<i64> {
    let list = &line[line.find('[').expect("a [") + 1..line.find(']').expect("a ]")];
    list.split(", ").map(|pid| pid.parse().expect("a pid")).collect()
}

#[test]
fn pool_worker_dies() {
    let out = run(env!("CARGO_BIN_EXE_pool_worker_dies"), &[]);
    out.assert_success();
    // Every task has its answer: six squares and two failures, none of them a hang.
    assert_eq!(out.count("main: the other six = [0, 1, 4, 16, 36, 49]"), 1, "{}", out.show());
    assert_eq!(out.count("main: task(3) failed: the worker died (exit code -9)"), 1);
    assert_eq!(
        out.count("main: task(5) failed: the task panicked: task(5): five is not allowed"),
        1
    );
    // The worker that killed itself was one of the first two and was replaced.
    let killed = number_after(out.line("kills its own process"), "pid=");
    let before = pid_list(out.line("pool of 2, worker pids"));
    let after = pid_list(out.line("worker pids now"));
    assert!(before.contains(&killed) && !after.contains(&killed), "{}", out.show());
    assert_eq!(after.len(), 2);
    assert_eq!(before.iter().filter(|pid| after.contains(pid)).count(), 1);
    assert_eq!(out.count("main: map after the crash = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"), 1);
}

#[test]
fn thread_pool() {
    let out = run(env!("CARGO_BIN_EXE_thread_pool"), &[]);
    out.assert_success();
    assert_eq!(out.count("map(square, 0..10) = [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"), 1);
    let most = number_after(out.line("pool of 3: 12 tasks, at most "), "at most ");
    assert!((1..=3).contains(&most), "{}", out.show());
    assert_eq!(
        out.count("apply_async: square(10) = 100; get(timeout=0.1) of a 0.5 s task: timed out"),
        1
    );
}

/// The kernel's sum for 0..n, computed here independently of the example.
fn expected_sum(n: u64) -> u64 {
    (0..n).map(|i| (i * i) % 1_000_000_007).sum()
}

#[test]
fn gil_compare() {
    let n = 200_000;
    let out = run(env!("CARGO_BIN_EXE_gil_compare"), &["--n", &n.to_string()]);
    out.assert_success();
    let expected = expected_sum(n).to_string();
    let cpu = [
        "serial",
        "2 threads",
        "2 threads + GIL emulation",
        "2 processes",
        "process pool of 2",
        "rayon (all CPUs)",
    ];
    for variant in cpu {
        let row = out
            .lines()
            .into_iter()
            .find(|l| l.starts_with(&format!("{variant:<28}")))
            .unwrap_or_else(|| panic!("no row {variant}\n{}", out.show()));
        assert_eq!(row.split_whitespace().rev().nth(3), Some(expected.as_str()), "{row}");
    }
    for variant in ["20 threads", "20 processes"] {
        let row = out.line(variant);
        assert_eq!(row.split_whitespace().rev().nth(3), Some("20"), "{row}");
    }
    assert_eq!(out.count_containing("(median of 50)"), 2);
    assert!(out.stdout.ends_with(&format!(
        "main: ok, every variant's result equals the serial one ({expected})\n"
    )));
}

#[test]
fn pool_background() {
    let out = run(env!("CARGO_BIN_EXE_pool_background"), &[]);
    out.assert_success();
    for (method, worker) in [
        ("fork", "ForkPoolWorker-"),
        ("spawn", "SpawnPoolWorker-"),
        ("forkserver", "ForkServerPoolWorker-"),
    ] {
        // The workers, which CPython names after the method, three of them at most.
        let ran_on = out.line(&format!("{method}: ran on "));
        let names: Vec<&str> = ran_on.split(": ran on ").nth(1).unwrap().split(", ").collect();
        assert!(!names.is_empty() && names.len() <= 3, "{ran_on}");
        assert!(names.iter().all(|n| n.starts_with(worker)), "{ran_on}");
        // How many were ready after the sleep varies with load; it is reported, then join.
        let ready = out.line(&format!("{method}: ")); // the first line of the method
        assert!((0..=8).contains(&number_after(ready, &format!("{method}: "))), "{ready}");
        assert!(ready.contains(" of 8 ready after the parent slept 1 s; join took "), "{ready}");
        assert!(out.position(ready) < out.position(ran_on));
    }
    // One method when asked for one.
    let out = run(env!("CARGO_BIN_EXE_pool_background"), &["forkserver"]);
    out.assert_success();
    assert_eq!(out.count_containing("of 8 ready"), 1);
    assert_eq!(out.count_containing("fork:"), 0);
}

#[test]
fn pool_background_answers_help_and_rejects_bad_input() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_pool_background"),
        &[&["thread"], &["fork", "spawn"], &["Fork"]],
    );
}

/// Killing a parent whose pool was made by a fork server ends the server and the
/// workers too, for each of the three signals.
#[test]
fn pool_background_forkserver_dies_with_its_parent() {
    let bin = env!("CARGO_BIN_EXE_pool_background");
    // The parent, the fork server and three workers.
    interrupt_each(bin, &["forkserver"], "", 5, Duration::from_secs(1));
}

#[test]
fn gil_compare_answers_help_and_rejects_bad_input() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_gil_compare"),
        &[
            &["--n", "0"],
            &["--n", "many"],
            &["--n", "-5"],
            &["--n", "5000000000"],
            &["--n", "99999999999999999999999"],
            &["--n"],
            &["--fast"],
        ],
    );
}

/// The CPython comparison in its quick form: both sides run, every result is checked
/// (the binary fails otherwise), the table has every row, and both files are written.
/// The figures of a debug build at quick sizes mean nothing, so none is checked.
#[test]
fn side_by_side() {
    let dir = harness::make_private_dir("side_by_side-test");
    let out = run(env!("CARGO_BIN_EXE_side_by_side"), &["--quick", "--out", dir.to_str().unwrap()]);
    let table = std::fs::read_to_string(dir.join("side_by_side.md"));
    let chart = std::fs::read_to_string(dir.join("side_by_side.svg"));
    std::fs::remove_dir_all(&dir).expect("remove the temporary directory");
    out.assert_success();
    assert_eq!(out.count_containing("every result checked: kernel sum 93634648688916"), 1);
    let rows: Vec<&str> = out.lines().into_iter().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 1 + 22, "a header and 22 metrics\n{}", out.show());
    for (metric, rows) in [
        ("CPU kernel, serial", 1),
        ("Process start + join", 3),
        ("Pool(3)", 2),
        ("shared-memory ring", 1),
        ("Pipe round trip", 1),
        ("Lock + unlock", 2),
    ] {
        assert_eq!(out.count_containing(metric), rows, "{metric}");
    }
    let table = table.expect("side_by_side.md written");
    assert!(rows.iter().all(|row| table.contains(row)), "the file holds the printed table");
    let chart = chart.expect("side_by_side.svg written");
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert_eq!(chart.matches(r#"class="bar""#).count(), rows.len() - 1, "one bar per metric");
}

#[test]
fn side_by_side_answers_help_and_rejects_bad_arguments() {
    harness::check_arguments(
        env!("CARGO_BIN_EXE_side_by_side"),
        &[
            &["--fast"],
            &["--out"],
            &["--out", "/no/such/dir"],
            &["--python", ""],
            &["-h", "extra"],
            &["--quick", "--help"],
        ],
    );
    // A missing interpreter is not bad input but the environment: exit 1, one line.
    let out = run(
        env!("CARGO_BIN_EXE_side_by_side"),
        &["--quick", "--no-write", "--python", "/no/python"],
    );
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.show());
    assert!(out.stderr.contains("cannot run /no/python"), "{}", out.show());
}

/// Every binary, [`harness::stress_runs`] times each, alone: each run exits 0 (its own
/// assertions held) and leaves no process, temporary file or `/dev/shm` entry behind.
/// `STRESS_RUNS=50 cargo test --workspace stress` runs it longer.
#[test]
fn stress() {
    let quiet = harness::Policy::Quiet;
    let binaries: [(&str, &[&str], harness::Policy); 10] = [
        (env!("CARGO_BIN_EXE_cluster"), &["--local", "2", "--n", "2000000"], quiet),
        (env!("CARGO_BIN_EXE_pool_async"), &[], quiet),
        (env!("CARGO_BIN_EXE_pool_apply"), &[], quiet),
        (env!("CARGO_BIN_EXE_pool_background"), &[], quiet),
        (env!("CARGO_BIN_EXE_pool_worker_dies"), &[], quiet),
        (env!("CARGO_BIN_EXE_pool_map"), &[], quiet),
        (env!("CARGO_BIN_EXE_thread_pool"), &[], harness::Policy::Std), // std and rayon only
        (env!("CARGO_BIN_EXE_gil_compare"), &["--n", "200000"], quiet),
        (env!("CARGO_BIN_EXE_coroutines"), &[], quiet),
        (env!("CARGO_BIN_EXE_side_by_side"), &["--quick", "--no-write"], quiet),
    ];
    harness::stress_all_with(env!("CARGO_MANIFEST_DIR"), &binaries);
}

/// A signal to the parent while its pool's three workers are busy ends the whole tree
/// within a second: the workers die with their parent.
#[test]
fn pool_async_dies_with_its_workers() {
    let bin = env!("CARGO_BIN_EXE_pool_async");
    interrupt_each(bin, &[], "start HH", 4, Duration::from_secs(1));
}

/// The same while `gil_compare`'s 20 IO-bound processes sleep.
#[test]
fn gil_compare_dies_with_its_children() {
    let bin = env!("CARGO_BIN_EXE_gil_compare");
    // "CPU-bound" is the first line; the 20 processes come about two seconds later.
    interrupt_each(bin, &["--n", "200000"], "CPU-bound", 11, Duration::from_secs(1));
}

#[test]
fn pool_apply_timeline() {
    let (_, shown) = harness::svg::run_with_timeline(env!("CARGO_BIN_EXE_pool_apply"), &[]);
    // Main and the five workers.
    assert_eq!(shown.names().len(), 6, "{shown:?}");
    let applies: Vec<String> = (0..10).map(|i| format!("apply {i}")).collect();
    assert_eq!(shown.row("MainProcess"), applies);
    assert_eq!(shown.spans().iter().filter(|s| s.starts_with("task ")).count(), 20);
    assert_eq!(shown.mark_labels, ["apply_async ×10"]);
}

#[test]
fn gil_compare_timeline() {
    let (_, shown) =
        harness::svg::run_with_timeline(env!("CARGO_BIN_EXE_gil_compare"), &["--n", "3000000"]);
    let names = shown.names();
    // Main, 2 threads, 2 GIL threads, 2 processes.
    assert_eq!(names.len(), 7, "{shown:?}");
    assert_eq!(shown.row("MainProcess"), ["serial"]);
    assert_eq!(names[1..5], ["thread 1", "thread 2", "GIL thread 1", "GIL thread 2"]);
    assert_eq!(shown.row("thread 1"), ["half 1"]);
    assert!(names[5].starts_with("Process-") && names[6].starts_with("Process-"));
    for k in [1, 2] {
        let held = shown.row(&format!("GIL thread {k}"));
        assert!(!held.is_empty() && held.iter().all(|s| s == "holds the GIL"), "{held:?}");
    }
    assert_eq!(shown.mark_labels, ["2 threads", "2 threads + GIL", "2 processes"]);
}

/// The sum the notes' kernel gives for N = 30 000 000, however it is split.
const CLUSTER_SUM: &str = "sum of (i*i) mod 1000000007 for i in 0..30000000 = 14993334113544338";

#[test]
fn cluster() {
    assert_eq!(CLUSTER_SUM.rsplit(' ').next(), Some(expected_sum(30_000_000).to_string().as_str()));
    for (args, processes, workers) in [
        (&[][..], 1, 1),
        (&["-w", "2"][..], 1, 2),
        (&["--local", "2"][..], 2, 1),
        (&["--local", "3"][..], 3, 1),
        (&["--local", "2", "-w", "2"][..], 2, 2),
    ] {
        let out = run(env!("CARGO_BIN_EXE_cluster"), args);
        out.assert_success();
        // Printed once, by process 0, whatever the split.
        assert_eq!(out.count(CLUSTER_SUM), 1, "{args:?}: {}", out.show());
        let timing = out.line("process(es) x");
        assert!(
            timing.starts_with(&format!("{processes} process(es) x {workers} worker(s): ")),
            "{timing}"
        );
        if processes > 1 {
            let started = out.line("cluster: starting");
            assert!(started.ends_with("processes, connected by socket pairs"), "{started}");
        }
    }
}

#[test]
fn cluster_rejects_bad_input() {
    let dir = harness::make_private_dir("cluster-test");
    let bad_hosts = dir.join("bad-hosts.txt");
    std::fs::write(&bad_hosts, "127.0.0.1:4000\nnot an address\n").unwrap();
    let short_hosts = dir.join("short-hosts.txt");
    std::fs::write(&short_hosts, "127.0.0.1:4000\n").unwrap();
    let (bad, short) = (bad_hosts.to_str().unwrap(), short_hosts.to_str().unwrap());
    let open_secret = dir.join("secret-anyone-can-read");
    std::fs::write(&open_secret, "a secret that others can read").unwrap();
    let open = open_secret.to_str().unwrap();
    let cases: [(&[&str], &str); 13] = [
        (&["-n", "2", "-p", "0", "-h", bad], "\"not an address\" is not HOST:PORT"),
        (&["-n", "2", "-p", "0", "-h", short], "1 address(es) for 2 process(es)"),
        (&["--peers", "127.0.0.1:4000,127.0.0.1:4001", "-p", "2"], "-p 2: out of range"),
        (&["-n", "2", "-h", "/no/such/hosts"], "-h /no/such/hosts"),
        (&["--local", "0"], "--local: a count from 1"),
        (&["--local", "2", "-p", "1"], "--local chooses the processes"),
        (&["--peers", "127.0.0.1:4000,127.0.0.1:4001", "-p", "1"], "need a secret"),
        (&["--peers", "127.0.0.1:4000,127.0.0.1:4001", "--secret-file", open], "only you can read"),
        (&["--sockets", "3,-", "-p", "1"], "--sockets comes from --local alone"),
        (&["-w", "0"], "-w: a count from 1"),
        (&["--n", "0"], "N must be a whole number"),
        (&["--connect-timeout", "never"], "--connect-timeout"),
        (&["extra"], "unexpected argument"),
    ];
    for (args, message) in cases {
        let out = run(env!("CARGO_BIN_EXE_cluster"), args);
        out.assert_code(2);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.show());
        assert!(out.stderr.contains(message), "{args:?}: {}", out.show());
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.show());
    }
    std::fs::remove_dir_all(&dir).unwrap();
    run(env!("CARGO_BIN_EXE_cluster"), &["--help"]).assert_help(); // -h is the host file
    harness::run_with_non_utf8_argument(env!("CARGO_BIN_EXE_cluster")).assert_usage_error();
}

/// Process 0 of two, whose peer never comes: an error within the timeout, not a wait.
#[test]
fn cluster_gives_up_on_an_unreachable_peer() {
    let (peers, secret) = (free_ports(2).join(","), Secret::new("unreachable"));
    let args =
        ["--peers", &peers, "-p", "0", "--connect-timeout", "1", "--secret-file", &secret.path];
    let out =
        harness::run_with_timeout(env!("CARGO_BIN_EXE_cluster"), &args, Duration::from_secs(20));
    out.assert_code(1);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.show());
    assert!(out.stderr.contains("not connected to every peer within 1 s"), "{}", out.show());
}

/// Addresses on 127.0.0.1 that were free a moment ago.
fn free_ports(k: usize) -> Vec<String> {
    let listeners: Vec<_> =
        (0..k).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    listeners.iter().map(|l| l.local_addr().unwrap().to_string()).collect()
}

/// A secret in a file only its owner can read, in a directory of its own, removed when
/// dropped.
struct Secret {
    path: String,
    _dir: harness::PrivateDir,
}

impl Secret {
    fn new(name: &str) -> Secret {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = harness::PrivateDir::new("cluster-secret");
        let path = dir.path().join(name);
        let mut file =
            std::fs::File::options().write(true).create_new(true).mode(0o600).open(&path).unwrap();
        std::io::Write::write_all(&mut file, b"sixteen bytes or more of secret").unwrap();
        Secret { path: path.to_string_lossy().into_owned(), _dir: dir }
    }
}

/// Two processes across "machines" (on loopback) with a secret, while strangers connect
/// to process 0: one says nothing, one claims to be process 0, one does not know the
/// secret, one runs another `--n`; with this test running as root, one more runs as
/// another user (`nobody`), who cannot read the secret. Each is dropped with a line, and
/// the two real processes still give the exact sum (before, a silent stranger stopped
/// the run, one claiming index 0 crashed process 0, and one with another `--n` made it
/// print a wrong sum).
#[test]
fn cluster_peers_prove_they_know_the_secret() {
    use std::io::Write;
    use std::net::TcpStream;
    let ports = free_ports(2);
    let peers = ports.join(",");
    let (secret, wrong) = (Secret::new("right"), Secret::new("wrong"));
    std::fs::write(&wrong.path, "another secret of sixteen bytes").unwrap();
    let bin = env!("CARGO_BIN_EXE_cluster");
    let zero = harness::Running::start(
        bin,
        &["--peers", &peers, "-p", "0", "--secret-file", &secret.path],
    );
    let hello = |index: u64, n: u64| {
        let mut bytes = b"cluster1".to_vec();
        for word in [index, 2, n, 1] {
            bytes.extend(word.to_be_bytes());
        }
        bytes.extend([7; 32]);
        bytes
    };
    let mut strangers = Vec::new();
    let connect = || loop {
        if let Ok(stream) = TcpStream::connect(&ports[0]) {
            return stream;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    strangers.push(connect()); // silent
    let mut claims_zero = connect();
    claims_zero.write_all(&hello(0, 30_000_000)).unwrap();
    strangers.push(claims_zero);
    let mut other_n = connect();
    other_n.write_all(&hello(1, 1_000)).unwrap();
    strangers.push(other_n);
    let wrong_secret = harness::Running::start(
        bin,
        &["--peers", &peers, "-p", "1", "--secret-file", &wrong.path, "--connect-timeout", "1"],
    );
    let nobody = another_user_tries(&secret.path, &ports[0]);
    let one = harness::Running::start(
        bin,
        &["--peers", &peers, "-p", "1", "--secret-file", &secret.path],
    );
    let (zero, one) = (zero.finish(harness::TIMEOUT), one.finish(harness::TIMEOUT));
    zero.assert_success();
    one.assert_success();
    assert_eq!(zero.count(CLUSTER_SUM), 1, "{}", zero.show());
    for why in ["it says it is process 0", "it runs with -n 2 --n 1000", "dropped"] {
        assert!(zero.stderr.contains(why), "{why}: {}", zero.show());
    }
    let wrong_secret = wrong_secret.finish(harness::TIMEOUT);
    wrong_secret.assert_code(1);
    assert!(wrong_secret.stderr.contains("does not know the secret"), "{}", wrong_secret.show());
    if let Some(nobody) = nobody {
        let out = nobody.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("cannot read the secret"), "{said}");
    }
    drop(strangers);
}

/// With this test running as root: as user `nobody`, tries to read the secret, then
/// connects to `address` and sends garbage. `None` (and a note) when not root.
fn another_user_tries(secret: &str, address: &str) -> Option<std::process::Child> {
    use std::os::unix::process::CommandExt;
    if rustix::process::geteuid().as_raw() != 0 {
        harness::skipped("the other-user check", "it needs root, to run as `nobody`");
        return None;
    }
    let (host, port) = address.rsplit_once(':').unwrap();
    let script = format!(
        "cat {secret} 2>/dev/null && echo 'read the secret' || echo 'cannot read the secret'; \
         exec 3<>/dev/tcp/{host}/{port} && printf 'garbage from another user' >&3; sleep 1"
    );
    let child = std::process::Command::new("bash")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    Some(child)
}

/// With `--local`, no TCP port of the run listens: the processes are connected by socket
/// pairs the launcher made (before, every process listened on a port of 127.0.0.1 that
/// any local user could connect to, named in every command line).
#[test]
fn cluster_local_listens_on_no_port() {
    let mut run = harness::Running::start(
        env!("CARGO_BIN_EXE_cluster"),
        &["--local", "2", "--n", "4000000000"],
    );
    run.wait_for_line("cluster: starting 2 processes");
    let members = run.wait_for_processes(3);
    std::thread::sleep(Duration::from_millis(500)); // connected and computing by now
    let listening = listening_inodes();
    let mut sockets = 0; // the socket pairs that join them: looked at, none listening
    for member in &members {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", member.pid)).unwrap();
        for fd in fds.flatten() {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) {
                assert!(!listening.iter().any(|l| l == inode), "{} listens: {target}", member.pid);
                sockets += 1;
            }
        }
    }
    assert!(sockets >= 2, "the processes' sockets were not found ({sockets})");
    run.signal(Signal::SIGTERM);
    run.wait_gone(Duration::from_secs(10));
}

/// The inodes of every listening TCP socket on the machine.
fn listening_inodes() -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // The IPv4 table must be there (else nothing would be checked); IPv6 may be off.
        let text = match std::fs::read_to_string(table) {
            Ok(text) => text,
            Err(e) if table.ends_with('6') && e.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => panic!("{table}: {e}"),
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) == Some(&"0A") {
                inodes.extend(fields.get(9).map(|i| i.to_string()));
            }
        }
    }
    inodes
}

/// A process killed in the middle of the computation: the others are ended, with one
/// line saying which failed, and nothing is left running.
#[test]
fn cluster_ends_when_a_peer_dies() {
    // N large enough that the debug build computes for minutes.
    let mut run = harness::Running::start_alone(
        env!("CARGO_BIN_EXE_cluster"),
        &["--local", "2", "--n", "4000000000"],
    );
    run.wait_for_line("cluster: starting 2 processes");
    let alive = run.wait_for_processes(3);
    let victim = alive.iter().find(|m| m.pid != run.pid()).expect("a child").pid;
    std::thread::sleep(Duration::from_secs(2)); // connected and computing by now
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    let gone = run.wait_gone(Duration::from_secs(30));
    gone.output.assert_code(1);
    let stderr = &gone.output.stderr;
    assert_eq!(stderr.lines().count(), 1, "{}", gone.output.show());
    // The killed process first, then what its peer saw, in one line.
    assert!(stderr.starts_with("cluster: process "), "{stderr}");
    assert!(stderr.contains(" was killed by signal 9; process "), "{stderr}");
    assert!(stderr.trim_end().ends_with("; ended the others"), "{stderr}");
}

/// Ctrl-C, `kill`, `kill -9` to the launcher end its processes at once.
#[test]
fn cluster_dies_with_its_children() {
    let (bin, args) = (env!("CARGO_BIN_EXE_cluster"), ["--local", "2", "--n", "4000000000"]);
    interrupt_each(bin, &args, "cluster: starting 2 processes", 3, Duration::from_secs(1));
}

#[test]
fn every_example_refuses_arguments() {
    for bin in [
        env!("CARGO_BIN_EXE_pool_async"),
        env!("CARGO_BIN_EXE_pool_worker_dies"),
        env!("CARGO_BIN_EXE_pool_map"),
        env!("CARGO_BIN_EXE_coroutines"),
    ] {
        run(bin, &["--timeline", "t.svg"]).assert_usage_error();
    }
    run(env!("CARGO_BIN_EXE_thread_pool"), &["--timeline", "t.svg"])
        .assert_argument_refused("--timeline");
}

/// A debug build of `side_by_side` without `--out` writes nothing (the committed
/// table holds release figures), and says so; its table says which build it measured.
#[test]
fn side_by_side_in_a_debug_build_writes_nothing() {
    if !cfg!(debug_assertions) {
        return harness::skipped("side_by_side's debug-build check", "a release build");
    }
    let out = run(env!("CARGO_BIN_EXE_side_by_side"), &["--quick"]);
    out.assert_success();
    assert!(out.stdout.contains("note: a debug build"), "{}", out.show());
    assert!(out.stdout.contains("Rust (a debug build)"), "{}", out.show());
    assert!(!out.stdout.contains("wrote "), "{}", out.show());
}
