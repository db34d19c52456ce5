//! CPython's `multiprocessing.Pipe()`: two connected ends that send and receive whole
//! messages.
//!
//! Like CPython on Linux, a duplex pipe is a `socketpair` and each message travels as a
//! 4-byte big-endian length followed by its bytes. CPython pickles the object; here it
//! is serialised with serde (postcard), so anything `Serialize + Deserialize` can be
//! sent. A one-way pipe (`Pipe(duplex=False)`) is an OS pipe; see [`one_way`].
//!
//! | CPython                                  | here                                        |
//! |------------------------------------------|---------------------------------------------|
//! | `a, b = Pipe()` / `Pipe(duplex=False)`   | `pipe()?` / `one_way()?` (reader, writer)   |
//! | `send(obj)` / `recv()`                   | `send(&value)?` / `recv::<T>()?`            |
//! | `send_bytes(buf, offset, size)`          | `send_bytes(&buf[offset..offset + size])?`  |
//! | `recv_bytes()` / `recv_bytes_into(buf, offset)` | `recv_bytes()?` / `recv_bytes_into(&mut buf[offset..])?` |
//! | `poll(timeout)`                          | `poll(timeout)?` (both kinds of pipe)       |
//! | `reduction.send_handle` / `recv_handle`  | `send_fd(&file)?` / `recv_fd()?`            |
//! | `EOFError`, `BufferTooShort`             | `ErrorKind::UnexpectedEof`, [`BufferTooShort`] |
//!
//! ```
//! use std::io::ErrorKind;
//! use std::time::Duration;
//! use examples_ipc::connection;
//!
//! // poll(timeout): whether a message is there, without taking it.
//! let (a, b) = connection::pipe()?;
//! assert!(!b.poll(Duration::from_millis(100))?); // nothing sent: false after 0.1 s
//! a.send(&"hi")?;
//! assert!(b.poll(Duration::ZERO)?);
//! assert_eq!(b.recv::<String>()?, "hi");
//! drop(a); // conn.close(): the other end sees end-of-file (CPython: EOFError)
//! assert_eq!(b.recv::<String>().unwrap_err().kind(), ErrorKind::UnexpectedEof);
//!
//! // Pipe(duplex=False): a reader and a writer.
//! let (mut reader, mut writer) = connection::one_way()?;
//! for i in 0..3_u32 {
//!     writer.send(&i)?;
//! }
//! drop(writer);
//! let got: Vec<u32> = std::iter::from_fn(|| reader.recv().ok()).collect();
//! assert_eq!(got, [0, 1, 2]);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! End-of-file comes when every copy of the other end is closed, and `fork` copies
//! them all: a child forked after `pipe()` holds the parent's end too (unreachable, in
//! its copy of the parent's memory), so it never sees end-of-file from the parent. The
//! parent does see it from the child, because `start` closes the parent's copy of the
//! end moved into the child. So a child should stop on a message, not on end-of-file
//! (CPython code closes the unused end in the child by hand for the same reason).

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

mod inbox;

use inbox::{Inbox, KEEP, poll_readable};

/// Messages larger than this are refused (CPython's limit is 2 GiB - 1; this one keeps
/// a corrupt length from allocating that much).
pub const MAX_MESSAGE: usize = 64 << 20;

/// One end of a pipe.
///
/// It reads ahead: one `recvmsg` takes whatever has arrived (up to 64 KiB), so a small
/// message costs one system call to send and one to receive, and several messages
/// that came together cost one between them. So poll it with [`poll`](Connection::poll)
/// (or check [`buffered`](Connection::buffered) before polling its descriptor): a
/// message already read ahead no longer makes the descriptor readable.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    inbox: Mutex<Inbox>,
    /// The buffer each message is serialised into, kept between sends.
    outbox: Mutex<Vec<u8>>,
}

impl Connection {
    fn new(stream: UnixStream) -> Connection {
        Connection { stream, inbox: Mutex::new(Inbox::default()), outbox: Mutex::new(Vec::new()) }
    }
}

/// A duplex pipe: what one end sends, the other receives, both ways
/// (CPython: `parent_conn, child_conn = Pipe()`).
pub fn pipe() -> io::Result<(Connection, Connection)> {
    let (a, b) = UnixStream::pair()?;
    Ok((Connection::new(a), Connection::new(b)))
}

/// A one-way pipe: `(reader, writer)`, as `Pipe(duplex=False)` returns. Messages are
/// the same as on a [`Connection`]; the reader sees end-of-file when every writer is
/// closed.
pub fn one_way() -> io::Result<(Receiver, Sender)> {
    let (reader, writer) = io::pipe()?;
    Ok((Receiver { pipe: reader }, Sender { pipe: writer }))
}

/// `recv_bytes_into`'s error when the message is longer than the buffer (CPython:
/// `multiprocessing.BufferTooShort`, which also carries the whole message). It comes
/// inside an `io::Error` of kind `InvalidInput`; `into_inner` and `downcast` give it back.
#[derive(Debug)]
pub struct BufferTooShort {
    /// The message that did not fit, whole.
    pub message: Vec<u8>,
}

impl fmt::Display for BufferTooShort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a message of {} bytes does not fit in the buffer", self.message.len())
    }
}

impl std::error::Error for BufferTooShort {}

impl Connection {
    /// Sends one message (CPython: `conn.send(obj)`).
    pub fn send<T: Serialize>(&self, value: &T) -> io::Result<()> {
        self.send_all([value])
    }

    /// Sends several messages with one system call (the other end receives them one by
    /// one, as if sent by `send`). Nothing is sent if one cannot be serialised.
    ///
    /// ```
    /// let (a, b) = examples_ipc::connection::pipe()?;
    /// a.send_all(&[1_u32, 2, 3])?;
    /// assert_eq!((b.recv::<u32>()?, b.recv::<u32>()?, b.recv::<u32>()?), (1, 2, 3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_all<'a, T: Serialize + 'a>(
        &self,
        values: impl IntoIterator<Item = &'a T>,
    ) -> io::Result<()> {
        self.send_framed(|frames| values.into_iter().try_fold(frames, frame_into))
    }

    /// Writes what `fill` puts in the reused send buffer, in one system call. The buffer's
    /// lock is held until the write is done: two threads sending at once send one whole
    /// message after the other, never interleaved.
    fn send_framed(&self, fill: impl FnOnce(Vec<u8>) -> io::Result<Vec<u8>>) -> io::Result<()> {
        let mut outbox = self.outbox.lock();
        let mut frames = std::mem::take(&mut *outbox);
        frames.clear();
        let frames = fill(frames)?;
        let sent = (&self.stream).write_all(&frames);
        if frames.capacity() <= KEEP {
            *outbox = frames; // reused by the next send
        }
        sent
    }

    /// Waits for one message (CPython: `conn.recv()`). Once the other end is closed
    /// and everything it sent has been read, the error's kind is `UnexpectedEof`
    /// (CPython raises `EOFError`).
    pub fn recv<T: DeserializeOwned>(&self) -> io::Result<T> {
        let mut inbox = self.inbox.lock();
        let len = inbox.next_message(&self.stream)?;
        let value = postcard::from_bytes(&inbox.unread()[4..4 + len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        inbox.consume(4 + len);
        value
    }

    /// Takes a message if a whole one has arrived, without waiting: `Ok(None)` if not
    /// yet (what has arrived of one is kept for the next call). A peer that writes half a
    /// message and stops cannot hold up a caller that has other things to watch.
    ///
    /// ```
    /// let (a, b) = examples_ipc::connection::pipe()?;
    /// assert_eq!(b.try_recv::<u8>()?, None);
    /// a.send(&7_u8)?;
    /// assert_eq!(b.try_recv::<u8>()?, Some(7));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_recv<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        let mut inbox = self.inbox.lock();
        let Some(len) = inbox.next_message_with(&self.stream, false)? else { return Ok(None) };
        let value = postcard::from_bytes(&inbox.unread()[4..4 + len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e));
        inbox.consume(4 + len);
        value.map(Some)
    }

    /// Whether a message (or end-of-file) can be read within `timeout`, without
    /// reading it (CPython: `conn.poll(timeout)`).
    pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
        Ok(self.buffered() || poll_readable(self.stream.as_fd(), timeout)?)
    }

    /// Whether a whole message has been read ahead and waits in this end: `recv` will
    /// return it without a system call, and polling the descriptor would not show it.
    pub fn buffered(&self) -> bool {
        self.inbox.lock().whole_message().is_some()
    }

    /// Sends raw bytes as one message, not serialised (CPython: `send_bytes(buf)`;
    /// `send_bytes(buf, offset, size)` is `send_bytes(&buf[offset..offset + size])`).
    pub fn send_bytes(&self, bytes: &[u8]) -> io::Result<()> {
        self.send_framed(|mut frame| {
            if bytes.len() > MAX_MESSAGE {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
            }
            frame.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            frame.extend_from_slice(bytes);
            Ok(frame)
        })
    }

    /// Receives one message as raw bytes (CPython: `recv_bytes()`). A message sent with
    /// `send` arrives as its serialised bytes.
    pub fn recv_bytes(&self) -> io::Result<Vec<u8>> {
        let mut inbox = self.inbox.lock();
        let len = inbox.next_message(&self.stream)?;
        let bytes = inbox.unread()[4..4 + len].to_vec();
        inbox.consume(4 + len);
        Ok(bytes)
    }

    /// Receives one message into `buf`, returning its length (CPython:
    /// `recv_bytes_into(buf)`; `recv_bytes_into(buf, offset)` is
    /// `recv_bytes_into(&mut buf[offset..])`). A message longer than `buf` is an error
    /// that carries it: [`BufferTooShort`].
    ///
    /// ```
    /// use examples_ipc::connection::{self, BufferTooShort};
    ///
    /// let (a, b) = connection::pipe()?;
    /// a.send_bytes(b"hello world")?;
    /// let mut buf = [0; 64];
    /// let n = b.recv_bytes_into(&mut buf[6..])?; // CPython: recv_bytes_into(buf, 6)
    /// assert_eq!(&buf[6..6 + n], b"hello world");
    ///
    /// a.send_bytes(&[7; 100])?;
    /// let err = b.recv_bytes_into(&mut buf).unwrap_err();
    /// let too_short = err.into_inner().unwrap().downcast::<BufferTooShort>().unwrap();
    /// assert_eq!(too_short.message.len(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_bytes_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        let message = self.recv_bytes()?;
        match buf.get_mut(..message.len()) {
            Some(room) => {
                room.copy_from_slice(&message);
                Ok(message.len())
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, BufferTooShort { message })),
        }
    }

    /// Sends an open file descriptor to the process at the other end (CPython:
    /// `multiprocessing.reduction.send_handle`), which gets its own descriptor for the
    /// same open file. The kernel passes it beside a one-byte message
    /// (`SCM_RIGHTS`), so it may go between any messages.
    ///
    /// ```
    /// use std::io::{Read, Write, Seek};
    /// use examples_ipc::connection;
    /// use examples_process::Process;
    ///
    /// let (here, there) = connection::pipe()?;
    /// let mut child = Process::new(move || {
    ///     let file = std::fs::File::from(there.recv_fd().expect("a descriptor"));
    ///     writeln!(&file, "written by the child").expect("write");
    /// });
    /// child.start()?;
    /// // A file with no name (`O_TMPFILE`): nobody else can open it.
    /// use std::os::unix::fs::OpenOptionsExt;
    /// let mut file = std::fs::File::options()
    ///     .read(true)
    ///     .write(true)
    ///     .custom_flags(nix::libc::O_TMPFILE)
    ///     .open(std::env::temp_dir())?;
    /// here.send_fd(&file)?;
    /// child.join()?;
    /// let mut text = String::new();
    /// file.rewind()?;
    /// file.read_to_string(&mut text)?;
    /// assert_eq!(text, "written by the child\n");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_fd(&self, fd: impl AsFd) -> io::Result<()> {
        // One frame: the length 1, then the byte the descriptor rides on.
        let mut frame = [0_u8; 5];
        frame[..4].copy_from_slice(&1_u32.to_be_bytes());
        frame[4] = FD_MARK;
        let _sending = self.outbox.lock(); // no other send between the pieces
        let sent = examples_process::reduction::send_fds(&self.stream, &frame, &[fd.as_fd()])?;
        if sent != frame.len() {
            (&self.stream).write_all(&frame[sent..])?;
        }
        Ok(())
    }

    /// Receives a file descriptor sent with [`send_fd`](Connection::send_fd) (CPython:
    /// `multiprocessing.reduction.recv_handle`). The next message must be one.
    ///
    /// A descriptor that no `recv_fd` takes (it came with a message read as data, or a
    /// peer sent more than one) is closed when the message it came with is received.
    pub fn recv_fd(&self) -> io::Result<OwnedFd> {
        let mut inbox = self.inbox.lock();
        let len = inbox.next_message(&self.stream)?;
        let is_fd = len == 1 && inbox.unread()[4] == FD_MARK;
        // The descriptor came with the frame's bytes (the kernel hands it over with the
        // first read that takes any of them), so it is in the inbox by now.
        let mut fds = inbox.consume_with_fds(4 + len);
        match fds.pop_front() {
            Some(fd) if is_fd => Ok(fd), // any others came with it unasked: closed here
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "the message is not a descriptor")),
        }
    }
}

/// The byte a descriptor travels with.
const FD_MARK: u8 = b'F';

/// Appends one message to `frames`: its length (4 bytes, big-endian), then its bytes.
fn frame_into<T: Serialize>(mut frames: Vec<u8>, value: &T) -> io::Result<Vec<u8>> {
    let at = frames.len();
    frames.extend_from_slice(&[0; 4]); // the length, once known
    let mut frames = postcard::to_extend(value, frames)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let len = frames.len() - at - 4;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
    }
    frames[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(frames)
}

/// A connected stream socket as a `Connection`: how a child takes the end that was
/// handed to it with [`Process::pass_fd`](examples_process::Process::pass_fd).
impl From<OwnedFd> for Connection {
    fn from(fd: OwnedFd) -> Connection {
        Connection::new(UnixStream::from(fd))
    }
}

/// The end's descriptor, for [`Process::pass_fd`](examples_process::Process::pass_fd).
/// Whatever it had read ahead is lost: hand an end over before using it.
impl From<Connection> for OwnedFd {
    fn from(conn: Connection) -> OwnedFd {
        conn.stream.into()
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

    /// Whether a message (or end-of-file) can be read within `timeout`, without
    /// reading it (CPython: `poll(timeout)` on the receiving end of `Pipe(False)`).
    pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
        poll_readable(self.pipe.as_fd(), timeout)
    }
}

impl Sender {
    /// Sends one message.
    pub fn send<T: Serialize>(&mut self, value: &T) -> io::Result<()> {
        write_message(&mut self.pipe, value)
    }
}

fn write_message<T: Serialize>(out: &mut impl Write, value: &T) -> io::Result<()> {
    write_frame(out, &postcard::to_stdvec(value).map_err(io::Error::other)?)
}

/// One message: a 4-byte big-endian length, then the bytes.
fn write_frame(out: &mut impl Write, body: &[u8]) -> io::Result<()> {
    if body.len() > MAX_MESSAGE {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "message too large"));
    }
    // Header and body in one buffer: a small message is one system call.
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(body);
    out.write_all(&frame)
}

fn read_message<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<T> {
    let body = read_frame(input, MAX_MESSAGE)?;
    postcard::from_bytes(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_frame(input: &mut impl Read, most: usize) -> io::Result<Vec<u8>> {
    let mut header = [0; 4];
    input.read_exact(&mut header)?; // UnexpectedEof at a clean end
    let len = u32::from_be_bytes(header) as usize;
    if len > most {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message length too large"));
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    Ok(body)
}

#[cfg(test)]
mod tests;
