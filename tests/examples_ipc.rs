//! Runs every `examples-ipc` binary and checks what its note says should happen.

use harness::run;

/// The number after `key` in `line`, e.g. the 200 of "after 200 ms".
fn number_after(line: &str, key: &str) -> i64 {
    let rest =
        &line[line.find(key).unwrap_or_else(|| panic!("no {key:?} in {line:?}")) + key.len()..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn pipe() {
    let out = run(env!("CARGO_BIN_EXE_pipe"), &[]);
    out.assert_success();
    // The child's 11 reached the parent, and the parent's 44 reached the child.
    assert!(out.position("parent: received 11") < out.position("child: from parent: 44"));
    assert_eq!(out.count("parent: recv after the child closed its end: end-of-file=true"), 1);
    assert_eq!(out.count("parent: poll(0.1) on a quiet pipe returned false"), 1);
    assert_eq!(out.count("parent: one-way pipe gave [0, 1, 2] then UnexpectedEof"), 1);
}

#[test]
fn queue() {
    let out = run(env!("CARGO_BIN_EXE_queue"), &[]);
    out.assert_success();
    // The child's puts fill it one by one; the parent sees the same size.
    for i in 1..=3 {
        assert_eq!(out.count(&format!("filler: put message {i}, qsize=Some({i})")), 1);
    }
    assert_eq!(out.count("parent: full=true qsize=Some(3)"), 1);
    let timed = out.line("put(timeout=0.2)");
    assert!(timed.contains("-> full after") && number_after(timed, "after ") >= 200, "{timed}");
    assert_eq!(out.count("parent: put_nowait -> full"), 1);
    // Another child gets them first in, first out, and the size falls in both processes.
    let got: Vec<&str> =
        out.lines().into_iter().filter(|l| l.starts_with("drainer: got")).collect();
    assert_eq!(
        got,
        [
            "drainer: got message 1, qsize=Some(2)",
            "drainer: got message 2, qsize=Some(1)",
            "drainer: got message 3, qsize=Some(0)"
        ]
    );
    assert_eq!(out.count("drainer: empty=true"), 1);
    assert_eq!(out.count("parent: empty=true qsize=Some(0)"), 1);
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
