//! CPython's `multiprocessing.Pipe()`: two connected ends that send and receive whole
//! messages.
//!
//! Like CPython on Linux, a duplex pipe is a `socketpair` and each message travels as a
//! 4-byte big-endian length followed by its bytes. CPython pickles the object; here it
//! is serialised with serde (postcard), so anything `Serialize + Deserialize` can be
//! sent. A one-way pipe (`Pipe(duplex=False)`) is an OS pipe; see [`one_way`].
//!
//! End-of-file comes when every copy of the other end is closed, and `fork` copies
//! them all: a child forked after `pipe()` holds the parent's end too (unreachable, in
//! its copy of the parent's memory), so it never sees end-of-file from the parent. The
//! parent does see it from the child, because `start` closes the parent's copy of the
//! end moved into the child. So a child should stop on a message, not on end-of-file
//! (CPython code closes the unused end in the child by hand for the same reason).

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Messages larger than this are refused (CPython's limit is 2 GiB - 1; this one keeps
/// a corrupt length from allocating that much).
pub const MAX_MESSAGE: usize = 64 << 20;

/// One end of a pipe.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
}

/// A duplex pipe: what one end sends, the other receives, both ways
/// (CPython: `parent_conn, child_conn = Pipe()`).
pub fn pipe() -> io::Result<(Connection, Connection)> {
    let (a, b) = UnixStream::pair()?;
    Ok((Connection { stream: a }, Connection { stream: b }))
}

/// A one-way pipe: `(reader, writer)`, as `Pipe(duplex=False)` returns. Messages are
/// the same as on a [`Connection`]; the reader sees end-of-file when every writer is
/// closed.
pub fn one_way() -> io::Result<(Receiver, Sender)> {
    let (reader, writer) = io::pipe()?;
    Ok((Receiver { pipe: reader }, Sender { pipe: writer }))
}

impl Connection {
    /// Sends one message (CPython: `conn.send(obj)`).
    pub fn send<T: Serialize>(&self, value: &T) -> io::Result<()> {
        write_message(&mut &self.stream, value)
    }

    /// Waits for one message (CPython: `conn.recv()`). Once the other end is closed
    /// and everything it sent has been read, the error's kind is `UnexpectedEof`
    /// (CPython raises `EOFError`).
    pub fn recv<T: DeserializeOwned>(&self) -> io::Result<T> {
        read_message(&mut &self.stream)
    }

    /// Whether a message (or end-of-file) can be read within `timeout`, without
    /// reading it (CPython: `conn.poll(timeout)`).
    pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
        let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
        Ok(ppoll(&mut fds, Some(TimeSpec::from(timeout)), None)? > 0)
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// The reading end of a [`one_way`] pipe.
#[derive(Debug)]
pub struct Receiver {
    pipe: io::PipeReader,
}

/// The writing end of a [`one_way`] pipe.
#[derive(Debug)]
pub struct Sender {
    pipe: io::PipeWriter,
}

impl Receiver {
    /// Waits for one message; `UnexpectedEof` once every writer is closed.
    pub fn recv<T: DeserializeOwned>(&mut self) -> io::Result<T> {
        read_message(&mut self.pipe)
    }
}

impl Sender {
    /// Sends one message.
    pub fn send<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        write_message(&mut self.pipe, value)
    }
}

fn write_message<T: Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    let body = postcard::to_stdvec(value).map_err(io::Error::other)?;
    if body.len() > MAX_MESSAGE {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
    }
    // Header and body in one buffer: a small message is one system call.
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)
}

fn read_message<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<T> {
    let mut header = [0; 4];
    input.read_exact(&mut header)?; // UnexpectedEof at a clean end
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message length too large"));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    postcard::from_bytes(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_any_serde_type_arrive_whole_and_in_order() {
        let (a, b) = pipe().unwrap();
        a.send(&"one").unwrap();
        a.send(&vec![1_u64, 2, 3]).unwrap();
        a.send(&(7_i8, Some('x'))).unwrap();
        assert_eq!(b.recv::<String>().unwrap(), "one");
        assert_eq!(b.recv::<Vec<u64>>().unwrap(), [1, 2, 3]);
        assert_eq!(b.recv::<(i8, Option<char>)>().unwrap(), (7, Some('x')));
        b.send(&'!').unwrap(); // and back: the pipe is duplex
        assert_eq!(a.recv::<char>().unwrap(), '!');
    }

    #[test]
    fn poll_sees_a_message_and_end_of_file() {
        let (a, b) = pipe().unwrap();
        assert!(!b.poll(Duration::ZERO).unwrap());
        a.send(&1_u8).unwrap();
        assert!(b.poll(Duration::from_secs(10)).unwrap());
        assert_eq!(b.recv::<u8>().unwrap(), 1);
        drop(a);
        assert!(b.poll(Duration::from_secs(10)).unwrap(), "end-of-file is readable too");
        assert_eq!(b.recv::<u8>().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn too_large_and_corrupt_messages_are_refused() {
        let (a, b) = pipe().unwrap();
        let huge = vec![0_u8; MAX_MESSAGE + 1];
        assert_eq!(a.send(&huge).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        // A header announcing more than the limit: refused before allocating it.
        (&a.stream).write_all(&u32::MAX.to_be_bytes()).unwrap();
        assert_eq!(b.recv::<u8>().unwrap_err().kind(), io::ErrorKind::InvalidData);
        // A body that cannot be the type asked for (postcard is not self-describing, so
        // only bytes that fit no value of the type are caught).
        a.send(&u64::MAX).unwrap();
        assert_eq!(b.recv::<bool>().unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_one_way_pipe_ends_when_its_writer_does() {
        let (mut r, mut w) = one_way().unwrap();
        w.send(&"only").unwrap();
        drop(w);
        assert_eq!(r.recv::<String>().unwrap(), "only");
        assert_eq!(r.recv::<String>().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
