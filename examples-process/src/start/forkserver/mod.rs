//! The fork server: a single-threaded process, spawned once, that forks the children
//! asked of it (CPython's `forkserver` start method). [`client`] is the side in the
//! program, [`server`] the server's loop; this file is what they say to each other.
//!
//! A request is one packet on the server's socket: a [`Request`] byte, and three or more
//! descriptors: a socket of the child's own (the server answers on it), the launch's
//! memfd, then the descriptors passed to the child. Each answer is one packet of five
//! bytes on the child's socket: an [`Answer`].

mod client;
mod server;

pub(crate) use client::{Served, served_exit_code, start};
pub use client::{ensure_forkserver, stop_forkserver};
pub(crate) use server::serve;

/// What the program asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// Fork a child that runs the launch.
    Run,
    /// Fork a child that runs this program again (spawn from a thread other than main).
    Exec,
}

impl Request {
    fn byte(self) -> u8 {
        match self {
            Request::Run => b'R',
            Request::Exec => b'X',
        }
    }

    fn from_byte(byte: u8) -> Option<Request> {
        match byte {
            b'R' => Some(Request::Run),
            b'X' => Some(Request::Exec),
            _ => None,
        }
    }
}

/// What the server says about one child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Started, with this pid (a pidfd rides along).
    Started(i32),
    /// Could not fork: this errno.
    Failed(i32),
    /// Ended with this exit code (`-N`: killed by signal N).
    Exited(i32),
}

impl Answer {
    const LEN: usize = 5;

    fn encode(self) -> [u8; Answer::LEN] {
        let (tag, value) = match self {
            Answer::Started(pid) => (b'P', pid),
            Answer::Failed(errno) => (b'E', errno),
            Answer::Exited(code) => (b'X', code),
        };
        let mut bytes = [tag, 0, 0, 0, 0];
        bytes[1..].copy_from_slice(&value.to_ne_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Option<Answer> {
        let (&tag, value) = bytes.split_first()?;
        let value = i32::from_ne_bytes(value.try_into().ok()?);
        match tag {
            b'P' => Some(Answer::Started(value)),
            b'E' => Some(Answer::Failed(value)),
            b'X' => Some(Answer::Exited(value)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_requests_round_trip_and_nonsense_is_refused() {
        for answer in [Answer::Started(77), Answer::Failed(11), Answer::Exited(-9)] {
            assert_eq!(Answer::decode(&answer.encode()), Some(answer));
        }
        assert_eq!(Answer::decode(b"Q\0\0\0\0"), None);
        assert_eq!(Answer::decode(b"P\0\0"), None, "too short");
        assert_eq!(Answer::decode(b""), None);
        for request in [Request::Run, Request::Exec] {
            assert_eq!(Request::from_byte(request.byte()), Some(request));
        }
        assert_eq!(Request::from_byte(b'?'), None);
    }
}
