//! Open file descriptors sent over a Unix socket to another process (CPython:
//! `multiprocessing.reduction.sendfds` / `recvfds`). The kernel passes them beside some
//! bytes (`SCM_RIGHTS`), and the receiver gets descriptors of its own for the same open
//! files. The fork server and `Connection::send_fd` both go through here.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::fd::AsFd;
//! use std::os::unix::net::UnixStream;
//! use examples_process::reduction::{recv_fds, send_fds};
//!
//! let (a, b) = UnixStream::pair()?;
//! let (reader, mut writer) = std::io::pipe()?;
//! send_fds(&a, b"x", &[reader.as_fd()])?;
//! drop(reader); // the copy on its way keeps the pipe open
//! let mut byte = [0; 1];
//! let (got, fds) = recv_fds(&b, &mut byte)?;
//! assert_eq!((got, fds.len()), (1, 1));
//! writer.write_all(b"through a passed descriptor")?;
//! drop(writer);
//! let mut text = String::new();
//! std::fs::File::from(fds.into_iter().next().unwrap()).read_to_string(&mut text)?;
//! assert_eq!(text, "through a passed descriptor");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The most descriptors one message can carry: the kernel's `SCM_MAX_FD`.
pub const MAX_FDS: usize = 253;

/// Sends `bytes` with `fds` riding on them, in one `sendmsg`; returns how many bytes
/// went (a stream socket may take fewer: send the rest as plain bytes). `bytes` must not
/// be empty when `fds` is not: descriptors travel with data. More than [`MAX_FDS`] is
/// an error, and so is a closed peer (`BrokenPipe`, never SIGPIPE).
pub fn send_fds(socket: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    if fds.len() > MAX_FDS || (bytes.is_empty() && !fds.is_empty()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} descriptors with {} bytes: at most {MAX_FDS}, with at least one byte",
                fds.len(),
                bytes.len()
            ),
        ));
    }
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    loop {
        let sent = rustix::net::sendmsg(
            &socket,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        );
        match sent {
            Err(rustix::io::Errno::INTR) => continue,
            other => return Ok(other?),
        }
    }
}

/// Receives into `buf` (waiting for something to arrive), with the descriptors that
/// came along, close-on-exec. Returns 0 bytes at end-of-file. A message that carried
/// more descriptors than [`MAX_FDS`] (some were dropped by the kernel) is an error, and
/// the ones that arrived are closed.
pub fn recv_fds(socket: impl AsFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    recv_fds_with(socket, buf, false)
}

/// [`recv_fds`] without waiting: `WouldBlock` at once if nothing has arrived.
pub fn try_recv_fds(socket: impl AsFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    recv_fds_with(socket, buf, true)
}

/// [`recv_fds`], or with `nonblocking`, `WouldBlock` at once if nothing has arrived.
pub(crate) fn recv_fds_with(
    socket: impl AsFd,
    buf: &mut [u8],
    nonblocking: bool,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut flags = RecvFlags::CMSG_CLOEXEC;
    if nonblocking {
        flags |= RecvFlags::DONTWAIT;
    }
    let received = loop {
        match rustix::net::recvmsg(&socket, &mut [IoSliceMut::new(buf)], &mut control, flags) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if received.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a message carried more than {MAX_FDS} descriptors"),
        ));
    }
    Ok((received.bytes, fds))
}
