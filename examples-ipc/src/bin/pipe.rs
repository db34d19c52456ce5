//! A pipe between a parent and a child: messages both ways, end-of-file, polling.
//!
//! Mirrors note 001 "3. b. Pipe": the child sends "11" and prints what the parent sends
//! back; the parent receives "11" and replies "44".
//!
//! | CPython                                     | Rust                                          |
//! |---------------------------------------------|-----------------------------------------------|
//! | `parent_conn, child_conn = Pipe()`          | `let (parent_conn, child_conn) = connection::pipe()?;` |
//! | `conn.send('11')` / `conn.recv()`           | `conn.send(&"11")?` / `conn.recv::<String>()?` |
//! | `conn.close()`                              | dropping the `Connection`                     |
//! | `EOFError` from `recv()` after the close    | `Err(e)` with `e.kind() == UnexpectedEof`     |
//! | `conn.poll(0.1)`                            | `conn.poll(Duration::from_millis(100))?`      |
//! | `r, w = Pipe(duplex=False)`                 | `let (mut r, mut w) = connection::one_way()?;` |
//! | `conn.send_bytes(buf, 4, 5)`                | `conn.send_bytes(&buf[4..9])?`                |
//! | `conn.recv_bytes_into(buf, 4)`              | `conn.recv_bytes_into(&mut buf[4..])?`        |
//! | `reduction.send_handle(conn, fd, pid)`      | `conn.send_fd(&file)?` / `conn.recv_fd()?`    |
//!
//! Run: `cargo run -p examples-ipc --bin pipe`
//!
//! Output: "parent: received 11", "child: from parent: 44"; the parent's `recv` after the
//! child exited reports end-of-file; a 0.1 s poll on an idle pipe returns false; a
//! one-way pipe delivers 0, 1, 2 then end-of-file; five raw bytes ("hello") land at
//! offset 4 of the child's buffer, and a file the parent opened, passed through the
//! pipe, holds the line the child wrote into it. What varies: nothing.
//!
//! Where Rust differs: a message is any `Serialize + Deserialize` value (CPython:
//! anything picklable), and `recv` names the type it expects. Each end is owned: the
//! child's end is moved into the child, so `start` closes the parent's copy of it and
//! the parent sees end-of-file when the child is done, a step CPython code must
//! remember to do by hand (`child_conn.close()` in the parent).
//!
//! In your own program: `ipc-channel` for typed channels between processes (it can also
//! pass channels and file descriptors), or a `UnixStream` with your own framing.
//!
//! Copy it: `cargo new pipe`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::time::Duration;

use examples_ipc::connection::{self, Connection};
use examples_process::{Failure, Process};

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    let (parent_conn, child_conn) = connection::pipe()?;
    let mut p = Process::new(move || f(child_conn));
    p.start()?;
    let got: String = parent_conn.recv()?;
    println!("parent: received {got}");
    parent_conn.send(&"44")?;
    let code = p.join()?;

    // The child has closed its end; receiving now reports end-of-file, not a hang.
    let after_close = parent_conn.recv::<String>();
    let eof = matches!(&after_close, Err(e) if e.kind() == ErrorKind::UnexpectedEof);
    println!("parent: recv after the child closed its end: end-of-file={eof}");

    // poll with a timeout on a pipe nobody writes to: false after the timeout.
    let (quiet, _other_end) = connection::pipe()?;
    let ready = quiet.poll(Duration::from_millis(100))?;
    println!("parent: poll(0.1) on a quiet pipe returned {ready}");

    // A one-way pipe: the child writes 0, 1, 2 and exits; the parent reads to the end.
    let (mut reader, mut writer) = connection::one_way()?;
    let mut counter = Process::new(move || {
        for i in 0..3_u32 {
            writer.send(&i).expect("the reader is open"); // a panic here is exit code 1
        }
    });
    counter.start()?;
    let mut received = Vec::new();
    let end = loop {
        match reader.recv::<u32>() {
            Ok(i) => received.push(i),
            Err(e) => break e,
        }
    };
    println!("parent: one-way pipe gave {received:?} then {:?}", end.kind());
    let counter_code = counter.join()?;

    // Raw bytes, and an open file handed to another process.
    let (here, there) = connection::pipe()?;
    let mut raw = Process::new(move || {
        let mut buf = [0_u8; 16];
        let n = there.recv_bytes_into(&mut buf[4..]).expect("bytes"); // recv_bytes_into(buf, 4)
        let file = std::fs::File::from(there.recv_fd().expect("a descriptor"));
        writeln!(&file, "child wrote {:?}", String::from_utf8_lossy(&buf[4..4 + n]))
            .expect("the file is open");
    });
    raw.start()?;
    here.send_bytes(&b"say hello now"[4..9])?; // send_bytes(buf, offset=4, size=5)
    let log = log_file()?;
    here.send_fd(&log)?; // multiprocessing.reduction.send_handle
    let raw_code = raw.join()?;
    let mut logged = String::new();
    (&log).seek(SeekFrom::Start(0))?;
    (&log).read_to_string(&mut logged)?;
    println!("parent: the file the child got through the pipe says: {}", logged.trim_end());

    assert_eq!(got, "11");
    assert_eq!((code, counter_code, raw_code), (0, 0, 0));
    assert_eq!(logged, "child wrote \"hello\"\n");
    assert!(eof);
    assert!(!ready);
    assert_eq!(received, [0, 1, 2]);
    assert_eq!(end.kind(), ErrorKind::UnexpectedEof);
    println!("parent: ok");
    Ok(())
}

/// A file with no name (removed as soon as it is open), so nothing is left behind.
fn log_file() -> io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("pipe-{}.log", std::process::id()));
    let file = std::fs::File::options().create_new(true).read(true).write(true).open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// The note's `f(conn)`: send, then print what comes back, then close.
fn f(conn: Connection) {
    if let Err(e) = conn.send(&"11") {
        panic!("child: send failed: {e}");
    }
    match conn.recv::<String>() {
        Ok(reply) => println!("child: from parent: {reply}"),
        Err(e) => panic!("child: recv failed: {e}"),
    }
    drop(conn); // conn.close()
}
