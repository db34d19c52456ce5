//! The manager's server: one process, one thread, serving every session at once.
//!
//! Each proxy has a session of its own: a stream socket whose other end it handed to
//! the server over the manager's door (a sequenced-packet socket, so a hand-over is one
//! whole packet even when several processes share the door). The server reads and
//! writes every session without blocking, each into buffers of its own, so a client
//! that stops half-way through a request, or stops reading its answers, stalls only
//! itself. Who a session is comes from the kernel (`SO_PEERCRED`: the process that made
//! the socket pair), never from what it says; the server watches that process through a
//! pidfd, and when it dies, or the session closes, the session ends: its locks are
//! released and its waits forgotten. A request that makes no sense is refused, to its
//! sender alone; a frame that cannot be framed (a length over the limit) ends that one
//! session.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::objects::{Answer, Object, Session, Wakes};
use super::protocol::{Call, LOCK, Reply};
use crate::connection::MAX_MESSAGE;

/// The most sessions at once; more are refused (their socket closed).
const MOST_SESSIONS: usize = 1024;

/// The most bytes read from one session in one round, so that a busy client cannot
/// starve the others.
const ROUND: usize = 1 << 20;

/// The most bytes of answers a session may leave unread before it is dropped.
const MOST_UNREAD: usize = 2 * MAX_MESSAGE;

struct Client {
    stream: UnixStream,
    /// The process that made the session, watched for its death.
    pidfd: Option<OwnedFd>,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    /// Ended: to be forgotten at the end of the round.
    ended: bool,
}

/// Serves on `door` until asked to stop with `token` (or until nobody can reach it).
pub(crate) fn serve(door: OwnedFd, token: u64) {
    let mut objects: Vec<Object> = vec![Object::Lock(Default::default())]; // LOCK
    debug_assert_eq!(objects.len() - 1, LOCK);
    let mut clients: BTreeMap<Session, Client> = BTreeMap::new();
    let mut next_session: Session = 0;
    loop {
        let (door_ready, door_gone, events) = wait(&door, &clients);
        if door_ready {
            accept(&door, &mut clients, &mut next_session);
        }
        for event in events {
            let Some(client) = clients.get_mut(&event.session) else { continue };
            if event.died {
                client.ended = true;
            }
            if event.readable {
                read_round(client);
            }
            if event.writable {
                flush(client);
            }
        }
        let mut wakes = Wakes::new();
        end_sessions(&mut objects, &mut clients, &mut wakes);
        let sessions: Vec<Session> = clients.keys().copied().collect();
        for session in sessions {
            while let Some(frame) = clients.get_mut(&session).and_then(next_frame) {
                let stop = handle(frame, session, token, &mut objects, &mut clients, &mut wakes);
                if stop {
                    deliver(&mut clients, wakes);
                    clients.values_mut().for_each(flush);
                    return;
                }
            }
        }
        end_sessions(&mut objects, &mut clients, &mut wakes);
        deliver(&mut clients, wakes);
        if door_gone && clients.is_empty() {
            return; // no proxy is left anywhere, and none can come
        }
    }
}

/// What one session has to say after a wait.
struct Event {
    session: Session,
    readable: bool,
    writable: bool,
    /// Its process died.
    died: bool,
}

/// Waits for something to do; returns whether the door has a new session, whether it
/// is closed for good, and what each session has.
fn wait(door: &OwnedFd, clients: &BTreeMap<Session, Client>) -> (bool, bool, Vec<Event>) {
    let mut fds = vec![PollFd::new(door.as_fd(), PollFlags::POLLIN)];
    let mut owners = Vec::new();
    for (&session, client) in clients {
        let mut flags = PollFlags::POLLIN;
        if !client.outbox.is_empty() {
            flags |= PollFlags::POLLOUT;
        }
        fds.push(PollFd::new(client.stream.as_fd(), flags));
        owners.push((session, false));
        if let Some(pidfd) = &client.pidfd {
            fds.push(PollFd::new(pidfd.as_fd(), PollFlags::POLLIN));
            owners.push((session, true));
        }
    }
    loop {
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return (false, true, Vec::new()),
            Ok(_) => break,
        }
    }
    let got = |fd: &PollFd, flags: PollFlags| fd.revents().is_some_and(|r| r.intersects(flags));
    let door_ready = got(&fds[0], PollFlags::POLLIN);
    let door_gone = got(&fds[0], PollFlags::POLLHUP | PollFlags::POLLERR) && !door_ready;
    let mut events: Vec<Event> = Vec::new();
    for (fd, &(session, is_pidfd)) in fds[1..].iter().zip(&owners) {
        let any = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        match events.last_mut() {
            Some(last) if last.session == session && is_pidfd => {
                last.died = got(fd, PollFlags::POLLIN);
            }
            _ => events.push(Event {
                session,
                readable: got(fd, any),
                writable: got(fd, PollFlags::POLLOUT),
                died: false,
            }),
        }
    }
    (door_ready, door_gone, events)
}

/// Takes the sessions handed over on the door: one socket per packet.
fn accept(door: &OwnedFd, clients: &mut BTreeMap<Session, Client>, next: &mut Session) {
    let mut byte = [0_u8; 1];
    let Ok((_, fds)) = examples_process::reduction::recv_fds(door, &mut byte) else { return };
    for fd in fds {
        if clients.len() >= MOST_SESSIONS {
            continue; // dropped: its proxy gets end-of-file, an error
        }
        let stream = UnixStream::from(fd);
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let pidfd = rustix::net::sockopt::socket_peercred(&stream).ok().and_then(|cred| {
            rustix::process::pidfd_open(cred.pid, rustix::process::PidfdFlags::empty()).ok()
        });
        let client = Client { stream, pidfd, inbox: Vec::new(), outbox: Vec::new(), ended: false };
        clients.insert(*next, client);
        *next += 1;
    }
}

/// Reads what a session has sent, up to one round's worth; end-of-file or an error ends it.
fn read_round(client: &mut Client) {
    let mut buf = [0_u8; 64 << 10];
    let mut taken = 0;
    while taken < ROUND {
        match (&client.stream).read(&mut buf) {
            Ok(0) => {
                client.ended = true;
                return;
            }
            Ok(n) => {
                client.inbox.extend_from_slice(&buf[..n]);
                taken += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                client.ended = true;
                return;
            }
        }
    }
}

/// The next whole request of a session, if it has come. A length over the limit ends
/// the session: nothing after it can be framed.
fn next_frame(client: &mut Client) -> Option<Vec<u8>> {
    let header: [u8; 4] = client.inbox.get(..4)?.try_into().ok()?;
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_MESSAGE {
        client.ended = true;
        client.inbox.clear();
        return None;
    }
    if client.inbox.len() < 4 + len {
        return None;
    }
    let frame = client.inbox[4..4 + len].to_vec();
    client.inbox.drain(..4 + len);
    Some(frame)
}

/// Answers one request of `session`. Returns true for `Shutdown`.
fn handle(
    frame: Vec<u8>,
    session: Session,
    token: u64,
    objects: &mut Vec<Object>,
    clients: &mut BTreeMap<Session, Client>,
    wakes: &mut Wakes,
) -> bool {
    let reply = match postcard::from_bytes::<Call>(&frame) {
        Err(e) => Reply::Refused(format!("a request that makes no sense: {e}")),
        Ok(Call::Shutdown(given)) if given == token => {
            answer(clients, session, Reply::Done);
            return true;
        }
        Ok(Call::Shutdown(_)) => Reply::Refused("only the manager's owner shuts it down".into()),
        Ok(Call::New(kind)) => {
            objects.push(Object::new(kind));
            Reply::Made(objects.len() - 1)
        }
        Ok(call) => {
            let id = call.object().unwrap_or(usize::MAX);
            let alive = |s: Session| is_alive(clients, s);
            match objects.get_mut(id) {
                None => Reply::Refused(format!("no object {id}")),
                Some(object) => match object.call(call, session, &alive, wakes) {
                    Answer::Now(reply) => reply,
                    Answer::Later => return false,
                },
            }
        }
    };
    answer(clients, session, reply);
    false
}

/// Whether `session` is still there: not ended, and its process alive.
fn is_alive(clients: &BTreeMap<Session, Client>, session: Session) -> bool {
    let Some(client) = clients.get(&session) else { return false };
    if client.ended {
        return false;
    }
    let Some(pidfd) = &client.pidfd else { return true };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

/// Ends the sessions marked ended: what they held is released (which may answer others).
fn end_sessions(
    objects: &mut [Object],
    clients: &mut BTreeMap<Session, Client>,
    wakes: &mut Wakes,
) {
    let ended: Vec<Session> = clients.iter().filter(|(_, c)| c.ended).map(|(&s, _)| s).collect();
    for session in ended {
        clients.remove(&session);
        for object in objects.iter_mut() {
            let alive = |s: Session| is_alive(clients, s);
            object.forget(session, &alive, wakes);
        }
    }
}

/// Sends the answers owed to other sessions.
fn deliver(clients: &mut BTreeMap<Session, Client>, wakes: Wakes) {
    for (session, reply) in wakes {
        answer(clients, session, reply);
    }
}

/// Queues `reply` for `session` and writes what it can now.
fn answer(clients: &mut BTreeMap<Session, Client>, session: Session, reply: Reply) {
    let Some(client) = clients.get_mut(&session) else { return };
    let Ok(bytes) = postcard::to_stdvec(&reply) else { return };
    let Ok(len) = u32::try_from(bytes.len()) else { return };
    client.outbox.extend_from_slice(&len.to_be_bytes());
    client.outbox.extend_from_slice(&bytes);
    flush(client);
    if client.outbox.len() > MOST_UNREAD {
        client.ended = true; // it does not read its answers: it costs only itself
    }
}

/// Writes as much of the session's answers as it takes now.
fn flush(client: &mut Client) {
    while !client.outbox.is_empty() {
        match (&client.stream).write(&client.outbox) {
            Ok(n) => {
                client.outbox.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                client.ended = true;
                client.outbox.clear();
                return;
            }
        }
    }
}

/// In the freshly forked server: closes every descriptor but standard input, output,
/// error and `keep`, so that no copy of a proxy's socket lives on here (it would keep
/// the session open after the proxy is gone).
pub(crate) fn close_all_but(keep: &OwnedFd) {
    let keep = keep.as_raw_fd() as nix::libc::c_uint;
    // SAFETY: closes descriptors this forked process inherited; the objects that own
    // them are the parent's, never used or dropped here (the server leaves with `_exit`).
    unsafe {
        if keep > 3 {
            nix::libc::syscall(nix::libc::SYS_close_range, 3, keep - 1, 0);
        }
        nix::libc::syscall(nix::libc::SYS_close_range, keep + 1, nix::libc::c_uint::MAX, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manager::Proxy;
    use std::sync::Arc;

    use parking_lot::Mutex;
    use std::time::{Duration, Instant};

    const TOKEN: u64 = 0x5eed;

    /// A server on a thread of this process, a proxy to it, and the door for raw
    /// sessions.
    fn server() -> (Proxy, Arc<OwnedFd>, std::thread::JoinHandle<()>) {
        let (door, server_door) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let running = std::thread::spawn(move || serve(server_door, TOKEN));
        let door = Arc::new(door);
        (Proxy { door: Arc::clone(&door), connection: Mutex::new(None) }, door, running)
    }

    /// A session of our own, to write anything at all on.
    fn raw_session(door: &OwnedFd) -> UnixStream {
        let (mine, theirs) = UnixStream::pair().unwrap();
        examples_process::reduction::send_fds(door, b"S", &[theirs.as_fd()]).unwrap();
        mine
    }

    /// A small deterministic generator (xorshift), so that a failing seed can be replayed.
    struct Bytes(u64);

    impl Bytes {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    /// Seeds from `FUZZ_SEEDS` (`FUZZ_SEEDS=1000` runs seeds 1..=1000), else a fixed few.
    fn seeds() -> Vec<u64> {
        match std::env::var("FUZZ_SEEDS").ok().and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => (1..=n).collect(),
            None => (1..=40).collect(),
        }
    }

    /// Random frames on one session, then a good proxy's call: it is answered, and the
    /// server is still there, for every seed.
    #[test]
    fn nonsense_costs_only_its_sender() {
        let (proxy, door, running) = server();
        let list = proxy.list([1_u32]).unwrap();
        for seed in seeds() {
            let mut random = Bytes(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let session = raw_session(&door);
            for _ in 0..(random.next() % 8 + 1) {
                let len = match random.next() % 4 {
                    0 => random.next() as u32,        // anything, huge included
                    _ => (random.next() % 64) as u32, // short
                };
                let mut frame = len.to_be_bytes().to_vec();
                let body = (random.next() % 80) as usize;
                frame.extend((0..body).map(|_| random.next() as u8));
                if (&session).write_all(&frame).is_err() {
                    break; // the server ended this session: fine
                }
            }
            let started = Instant::now();
            list.append(seed as u32).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(started.elapsed() < Duration::from_secs(5), "seed {seed}: waited");
            drop(session.shutdown(std::net::Shutdown::Both));
        }
        assert_eq!(list.len().unwrap(), 1 + seeds().len());
        drop(list);
        let _ = proxy.call(Call::Shutdown(TOKEN));
        running.join().unwrap();
    }

    /// Who holds a lock is the connection that took it: a request on another connection
    /// to release it is refused, whatever it says (before, a client stated a pid, and
    /// could state another's).
    #[test]
    fn a_lock_is_released_only_through_the_connection_that_holds_it() {
        let (proxy, door, running) = server();
        let held = proxy.lock().unwrap();
        let intruder = raw_session(&door);
        let release = postcard::to_stdvec(&Call::Release(LOCK)).unwrap();
        let mut frame = (release.len() as u32).to_be_bytes().to_vec();
        frame.extend(&release);
        (&intruder).write_all(&frame).unwrap();
        let mut header = [0; 4];
        (&intruder).read_exact(&mut header).unwrap();
        let mut body = vec![0; u32::from_be_bytes(header) as usize];
        (&intruder).read_exact(&mut body).unwrap();
        let reply: Reply = postcard::from_bytes(&body).unwrap();
        assert!(matches!(reply, Reply::Refused(_)), "{reply:?}");
        let other = proxy.clone();
        let waiter = std::thread::spawn(move || drop(other.lock().unwrap()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.lock_waiters().unwrap() == 0 {
            assert!(Instant::now() < deadline, "the lock was released by the intruder");
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(held);
        waiter.join().unwrap();
        let _ = proxy.call(Call::Shutdown(TOKEN));
        running.join().unwrap();
    }

    /// A client that stops half-way through a large request, or never reads its answers,
    /// does not hold up anyone else.
    #[test]
    fn a_stalled_client_stalls_only_itself() {
        let (proxy, door, running) = server();
        let ns = proxy.namespace().unwrap();
        let stalled = raw_session(&door);
        let mut frame = (8_u32 << 20).to_be_bytes().to_vec(); // 8 MiB announced...
        frame.extend(vec![0; 100_000]); // ...a little sent
        (&stalled).write_all(&frame).unwrap();
        let deaf = raw_session(&door);
        let items = postcard::to_stdvec(&Call::Items(0)).unwrap();
        for _ in 0..10_000 {
            let mut request = (items.len() as u32).to_be_bytes().to_vec();
            request.extend(&items);
            if (&deaf).write_all(&request).is_err() {
                break;
            }
        }
        let started = Instant::now();
        ns.set("x", &1_u8).unwrap();
        assert_eq!(ns.get::<u8>("x").unwrap(), Some(1));
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = proxy.call(Call::Shutdown(TOKEN));
        running.join().unwrap();
    }
}
