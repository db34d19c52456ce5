//! Note 001 "3. b. Pipe": a duplex pipe; the child sends "11" and prints what the parent
//! sends back; the parent receives "11" and replies "44".
//!
//! | CPython                                     | Rust                                          |
//! |---------------------------------------------|-----------------------------------------------|
//! | `parent_conn, child_conn = Pipe()`          | `let (parent_conn, child_conn) = connection::pipe()?;` |
//! | `conn.send('11')` / `conn.recv()`           | `conn.send(&"11")?` / `conn.recv::<String>()?` |
//! | `conn.close()`                              | dropping the `Connection`                     |
//!
//! Run: `cargo run -p examples-ipc --bin pipe`
//!
//! ```text
//! 11
//! from parent: 44
//! after the child closed its end, recv() gives end-of-file
//! ```
//!
//! Where Rust differs: a message is any serde value and `recv` names the type it
//! expects. `start` closes the parent's copy of the child's end, so the parent sees
//! end-of-file once the child is done. A one-way pipe's reading end has no `send` (CPython
//! raises at run time). `poll`, one-way pipes, raw bytes, passing a file: the
//! `connection` module's docs (`cargo doc -p examples-ipc --open`).
//!
//! Copy it: `cargo new pipe`, put this file in as `src/main.rs`, then run:
//!
//! ```sh
//! cargo add examples-process --path $REPO/examples-process
//! cargo add examples-ipc --path $REPO/examples-ipc --no-default-features
//! ```

use std::io::ErrorKind;

use examples_ipc::connection::{self, Connection};
use examples_process::{Failure, Process};

fn f(conn: Connection) {
    conn.send(&"11").expect("the parent is there"); // a panic here is exit code 1
    println!("from parent: {}", conn.recv::<String>().expect("the parent answers"));
    drop(conn); // conn.close()
}

fn main() -> Result<(), Failure> {
    examples_process::exit_on_stdout_failure();
    examples_process::no_arguments();
    let (parent_conn, child_conn) = connection::pipe()?;
    let mut p = Process::new(move || f(child_conn));
    p.start()?;
    println!("{}", parent_conn.recv::<String>()?);
    parent_conn.send(&"44")?;
    let code = p.join()?;

    // What the example adds: the child's end is closed now, so recv ends, not waits.
    let after = parent_conn.recv::<String>();
    assert!(matches!(&after, Err(e) if e.kind() == ErrorKind::UnexpectedEof), "{after:?}");
    println!("after the child closed its end, recv() gives end-of-file");
    assert_eq!(code, 0);
    Ok(())
}
