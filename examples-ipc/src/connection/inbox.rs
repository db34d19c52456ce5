//! What a connection has read and not yet received: bytes, and the descriptors that
//! came with them, until a whole message is there.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;

use super::MAX_MESSAGE;

/// How much a read takes at most, unless a message needs more.
const READ_AHEAD: usize = 64 << 10;

/// Buffers larger than this are not kept once empty (a one-off large message).
pub(super) const KEEP: usize = 1 << 20;

/// What has been read and not yet received: `buf[start..end]`, and the descriptors
/// that came with it, each with the stream position where the read that brought it
/// ended (it belongs to a message that starts before that).
#[derive(Debug, Default)]
pub(super) struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes received (consumed) so far: the stream position of `buf[start]`.
    consumed: u64,
    fds: VecDeque<(u64, OwnedFd)>,
}

impl Inbox {
    pub(super) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The length of the whole message at the front, if it has all arrived.
    pub(super) fn whole_message(&self) -> Option<usize> {
        let unread = self.unread();
        let len = u32::from_be_bytes(unread.get(..4)?.try_into().ok()?) as usize;
        (unread.len() >= 4 + len).then_some(len)
    }

    /// Receives the `n` bytes at the front; the descriptors that came with them (read
    /// no later than those bytes end) are closed.
    pub(super) fn consume(&mut self, n: usize) {
        drop(self.consume_with_fds(n));
    }

    /// Receives the `n` bytes at the front and hands over the descriptors that came with
    /// them.
    pub(super) fn consume_with_fds(&mut self, n: usize) -> VecDeque<OwnedFd> {
        self.start += n;
        self.consumed += n as u64;
        let mut taken = VecDeque::new();
        while self.fds.front().is_some_and(|(at, _)| *at <= self.consumed) {
            taken.extend(self.fds.pop_front().map(|(_, fd)| fd));
        }
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            if self.buf.len() > KEEP {
                self.buf = Vec::new();
            }
            // Nothing unread is left for them to belong to.
            taken.extend(self.fds.drain(..).map(|(_, fd)| fd));
        }
        taken
    }

    /// Reads until a whole message is at the front; returns its length (its bytes are
    /// `unread()[4..4 + len]`). `UnexpectedEof` at a clean end.
    pub(super) fn next_message(&mut self, stream: &UnixStream) -> io::Result<usize> {
        self.next_message_with(stream, true).map(|len| len.expect("a blocking read waits"))
    }

    /// `next_message`, or with `wait` false, `Ok(None)` once nothing more has arrived.
    pub(super) fn next_message_with(
        &mut self,
        stream: &UnixStream,
        wait: bool,
    ) -> io::Result<Option<usize>> {
        loop {
            let need = match self.unread().get(..4) {
                Some(header) => {
                    let len = u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
                    if len > MAX_MESSAGE {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "message length too large",
                        ));
                    }
                    if self.unread().len() >= 4 + len {
                        return Ok(Some(len));
                    }
                    4 + len
                }
                None => 4,
            };
            match self.read_some(stream, need, wait) {
                Err(e) if !wait && e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                other => other?,
            }
        }
    }

    /// One `recvmsg` into the free room, made at least `need` bytes past `start`; with
    /// `wait` false, `WouldBlock` if nothing has arrived.
    fn read_some(&mut self, stream: &UnixStream, need: usize, wait: bool) -> io::Result<()> {
        if self.start > 0 && self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0); // move what is left to the front
            (self.start, self.end) = (0, self.end - self.start);
        }
        let room = (self.start + need).max(READ_AHEAD);
        if self.buf.len() < room {
            self.buf.resize(room, 0); // zeroed once; reused afterwards
        }
        let room = &mut self.buf[self.end..];
        let (got, fds) = if wait {
            examples_process::reduction::recv_fds(stream, room)?
        } else {
            examples_process::reduction::try_recv_fds(stream, room)?
        };
        // They belong to a message that starts within what this read brought.
        let read_to = self.consumed + (self.end - self.start + got) as u64;
        self.fds.extend(fds.into_iter().map(|fd| (read_to, fd)));
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += got;
        Ok(())
    }
}

pub(super) fn poll_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    timeout: Duration,
) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    Ok(ppoll(&mut fds, Some(TimeSpec::from(timeout)), None)? > 0)
}
