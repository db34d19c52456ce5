//! The pool's state in the parent: which task goes to which worker, what came back,
//! what happens when a worker dies or talks nonsense, and which callbacks are due.
//!
//! The pool has no thread of its own (so the parent stays single-threaded and can
//! fork): every pool call drives this state a step, and callbacks run after the step,
//! outside it, so that a callback may use the pool.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::AsFd;
use std::time::Instant;

use examples_process::StartMethod;
use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;

use super::PoolError;
use super::result::Watch;
use super::wire::{Done, Failed, Order, Task};
use super::worker::Worker;

/// A task's outcome in the parent: its serialised results, or why there are none.
pub(crate) type Outcome = Result<Vec<u8>, PoolError>;

/// A map keyed by task id.
pub(crate) type ById<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Task ids are the pool's own consecutive numbers (from a random start), not keys
/// anyone else chooses, so std's SipHash, which guards against chosen keys, is not
/// needed: one multiply by an odd constant spreads them over the table. Measured with
/// 10,000 one-item tasks, SipHash took 18% of the parent's time.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) struct Inner {
    pub(crate) workers: Vec<Worker>,
    method: StartMethod,
    pub(crate) queued: VecDeque<Task>,
    pub(crate) finished: ById<Outcome>,
    next_id: u64,
    /// Workers started so far, replacements included: the next one's number.
    started: usize,
    /// Where the next round of dispatching starts.
    next_worker: usize,
    /// Callbacks waiting for results.
    pub(crate) watches: Vec<Watch>,
    /// Tasks sent to a worker and not yet answered, by id.
    sent: ById<Task>,
    /// Tasks whose results nobody will ask for (their `AsyncResult` or `Imap` was
    /// dropped): their results are dropped once their callbacks, if any, have run.
    abandoned: HashSet<u64, BuildHasherDefault<IdHasher>>,
}

impl From<Failed> for PoolError {
    fn from(failed: Failed) -> PoolError {
        match failed {
            Failed::Panicked(message) => PoolError::Panicked(message),
            Failed::TooLarge(bytes) => PoolError::TooLarge(bytes),
            Failed::Unknown => PoolError::BadWorker("it found no such function".into()),
        }
    }
}

impl Inner {
    pub(crate) fn new(workers: Vec<Worker>, method: StartMethod) -> Inner {
        Inner {
            started: workers.len(),
            workers,
            method,
            queued: VecDeque::new(),
            finished: ById::default(),
            // Ids start at a random number: an answer made of garbage is then never taken
            // for a task's (a worker's answer must carry the id of the task it runs).
            next_id: std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 0_u8),
            next_worker: 0,
            watches: Vec::new(),
            sent: ById::default(),
            abandoned: HashSet::default(),
        }
    }

    /// Queues a task whose result is wanted alone; returns its id.
    pub(crate) fn submit(&mut self, entry: isize, args: Vec<u8>) -> u64 {
        self.submit_in(entry, args, None)
    }

    /// Queues the chunks of one call whose results are wanted all together (a map);
    /// returns their ids.
    pub(crate) fn submit_call(&mut self, entry: isize, chunks: Vec<Vec<u8>>) -> Vec<u64> {
        let job = Some(self.next_id);
        self.finished.reserve(chunks.len()); // where their results go: grown once
        chunks.into_iter().map(|args| self.submit_in(entry, args, job)).collect()
    }

    fn submit_in(&mut self, entry: isize, args: Vec<u8>, job: Option<u64>) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.queued.push_back(Task { id, entry, job, args });
        id
    }

    /// A task id whose outcome is `error` already (an input that failed at this point).
    pub(crate) fn submit_failed(&mut self, error: PoolError) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.finished.insert(id, Err(error));
        id
    }

    /// Nobody will ask for these tasks' results: drop the ones that came, and the
    /// others when they come (after their callbacks).
    pub(crate) fn abandon(&mut self, ids: &[u64]) {
        for &id in ids {
            let watched = self.watches.iter().any(|w| w.ids.contains(&id));
            if self.finished.contains_key(&id) && !watched {
                self.finished.remove(&id);
            } else {
                self.abandoned.insert(id);
            }
        }
    }

    /// Keeps a task's outcome until it is asked for, or drops it if nobody will ask.
    fn record(&mut self, id: u64, outcome: Outcome) {
        let watched = self.watches.iter().any(|w| w.ids.contains(&id));
        if self.abandoned.contains(&id) && !watched {
            self.abandoned.remove(&id);
        } else {
            self.finished.insert(id, outcome);
        }
    }

    /// Starts a new worker in the place of worker `i` (which has died).
    fn replace(&mut self, i: usize) -> io::Result<()> {
        self.workers[i] = Worker::start(&self.workers, self.started + 1, self.method)?;
        self.started += 1;
        Ok(())
    }

    /// Sends queued tasks to the workers, each to the one with the fewest waiting (the
    /// next one round, on a tie: with one task at a time, as `apply` gives, each worker
    /// gets its turn, as CPython's do), while they have room (see `IN_FLIGHT`).
    pub(crate) fn dispatch(&mut self) -> io::Result<()> {
        self.replace_idle_dead()?;
        let n = self.workers.len();
        // First choose, then send each worker its share in one write.
        let mut shares: Vec<Vec<u64>> = vec![Vec::new(); n];
        while let Some(task) = self.queued.front() {
            let bytes = task.args.len();
            let first = self.next_worker;
            let Some(i) = (0..n)
                .map(|k| (first + k) % n)
                .filter(|&i| self.workers[i].has_room(bytes))
                .min_by_key(|&i| self.workers[i].running.len())
            else {
                break; // every worker has its fill: the rest go as results come back
            };
            let task = self.queued.pop_front().expect("looked at above");
            let worker = &mut self.workers[i];
            worker.running.push_back(task.id);
            worker.running_bytes += bytes;
            shares[i].push(task.id);
            self.sent.insert(task.id, task); // kept until answered, to re-send if need be
            self.next_worker = (i + 1) % n;
        }
        for (i, share) in shares.into_iter().enumerate().filter(|(_, s)| !s.is_empty()) {
            let orders: Vec<Order<&Task>> =
                share.iter().map(|id| Order::Run(&self.sent[id])).collect();
            // Once sent, if the worker dies, `collect` sees its end of file, fails the
            // task it was running, re-queues the others and replaces it.
            let Err(e) = self.workers[i].conn.send_all(&orders) else { continue };
            // None of the share reached the worker: take it back.
            let tasks: Vec<Task> = share.iter().filter_map(|id| self.sent.remove(id)).collect();
            let worker = &mut self.workers[i];
            worker.running.truncate(worker.running.len() - share.len());
            worker.running_bytes -= tasks.iter().map(|t| t.args.len()).sum::<usize>();
            if e.kind() == io::ErrorKind::BrokenPipe {
                // Dead before it could take them: replace it, keep the tasks.
                for task in tasks.into_iter().rev() {
                    self.queued.push_front(task);
                }
                self.finish_dead(i, None)?;
            } else {
                for task in tasks {
                    let error = io::Error::new(e.kind(), e.to_string());
                    self.record(task.id, Err(PoolError::Io(error)));
                }
            }
        }
        Ok(())
    }

    /// Replaces the idle workers that have died (killed from outside while they waited),
    /// before a task is given to one of them, where it would fail without having run.
    fn replace_idle_dead(&mut self) -> io::Result<()> {
        if self.queued.is_empty() {
            return Ok(());
        }
        for i in 0..self.workers.len() {
            let worker = &self.workers[i];
            if worker.running.is_empty() && !worker.process.is_alive() {
                let _ = self.workers[i].process.join(); // reaped already; its code is kept
                self.replace(i)?;
            }
        }
        Ok(())
    }

    /// Hands out work, then waits (until `deadline`) for at least one result, and reads
    /// every result that has come. Returns false on timeout.
    pub(crate) fn step(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        self.dispatch()?;
        let busy: Vec<usize> =
            (0..self.workers.len()).filter(|&i| !self.workers[i].running.is_empty()).collect();
        if busy.is_empty() {
            return Err(io::Error::other("waiting for a task that no worker has"));
        }
        // Results already read ahead need no poll (their descriptor would not show them).
        let buffered: Vec<usize> =
            busy.iter().copied().filter(|&i| self.workers[i].conn.buffered()).collect();
        let ready: Vec<usize> = if !buffered.is_empty() {
            buffered
        } else {
            let mut fds: Vec<PollFd> = busy
                .iter()
                .map(|&i| PollFd::new(self.workers[i].conn.as_fd(), PollFlags::POLLIN))
                .collect();
            let left =
                deadline.map(|d| TimeSpec::from(d.saturating_duration_since(Instant::now())));
            match ppoll(&mut fds, left, None) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
            let has_news = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
            busy.iter().zip(&fds).filter(|(_, fd)| has_news(fd)).map(|(&i, _)| i).collect()
        };
        for i in ready {
            self.collect(i)?;
        }
        self.dispatch()?;
        Ok(true)
    }

    /// Reads every answer worker `i` has written, or finds it dead or confused. An
    /// answer must be for the task the worker runs first: anything else (a wrong id,
    /// bytes that are no answer, a length too large) means the worker cannot be trusted
    /// any more; it is killed and its task fails with [`PoolError::BadWorker`].
    fn collect(&mut self, i: usize) -> io::Result<()> {
        loop {
            let worker = &mut self.workers[i];
            let expected = worker.running.front().copied();
            // Never waits: half an answer stays read until the rest comes, so a worker
            // that stops half-way holds up nothing else (a deadline still passes).
            match worker.conn.try_recv::<Done>() {
                Ok(None) => return Ok(()),
                Ok(Some(done)) if Some(done.id) == expected => {
                    worker.running.pop_front();
                    let bytes = self.sent.remove(&done.id).map_or(0, |task| task.args.len());
                    let worker = &mut self.workers[i];
                    worker.running_bytes = worker.running_bytes.saturating_sub(bytes);
                    let outcome = done.result.map(|b| b.into_vec()).map_err(PoolError::from);
                    self.record(done.id, outcome);
                }
                Ok(Some(done)) => {
                    let why = format!("it answered task {} while running {expected:?}", done.id);
                    return self.finish_dead(i, Some(why));
                }
                // It died: end-of-file, or a reset if it left tasks unread.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    return self.finish_dead(i, None);
                }
                Err(e) => return self.finish_dead(i, Some(format!("it sent {e}"))),
            }
            if self.workers[i].running.is_empty() {
                return Ok(());
            }
        }
    }

    /// Ends worker `i` (killed first if it still runs: it died, or `nonsense` says why
    /// it cannot be trusted), reaps it, settles the tasks it had been sent, and starts
    /// its replacement.
    fn finish_dead(&mut self, i: usize, nonsense: Option<String>) -> io::Result<()> {
        let lost = std::mem::take(&mut self.workers[i].running);
        let _ = self.workers[i].process.kill(); // never wait on a live, confused worker
        let code = self.workers[i].process.join().unwrap_or(i32::MIN);
        let error = || match &nonsense {
            Some(why) => PoolError::BadWorker(why.clone()),
            None => PoolError::WorkerDied(code),
        };
        // The tasks are settled before the replacement starts: if it cannot, none is
        // left waiting on a worker that is not there.
        self.fail_and_requeue(lost, error);
        self.replace(i)
    }

    /// A dead worker's tasks: the first unanswered one fails; the ones behind it go
    /// back to the front of the queue, except the chunks of the same map right behind
    /// it, which fail too. The worker may have run some of those and held their results
    /// (see `worker::serve`), so the one that killed it is not known, only its call; the
    /// call fails with the worker's death, as it would have if that chunk were known.
    fn fail_and_requeue(&mut self, mut lost: VecDeque<u64>, error: impl Fn() -> PoolError) {
        let Some(first) = lost.pop_front() else { return };
        let job = self.sent.remove(&first).and_then(|task| task.job);
        while let Some(&id) = lost.front() {
            if job.is_none() || self.sent.get(&id).map(|task| task.job) != Some(job) {
                break;
            }
            lost.pop_front();
            self.sent.remove(&id);
            self.record(id, Err(error()));
        }
        self.record(first, Err(error()));
        for id in lost.into_iter().rev() {
            if let Some(task) = self.sent.remove(&id) {
                self.queued.push_front(task);
            }
        }
    }

    /// The callbacks whose tasks have all finished (or one of whose tasks failed), with
    /// their tasks' outcomes taken out of `finished`: they run outside the pool's state,
    /// then [`put_back`](Inner::put_back) returns what is still wanted.
    pub(crate) fn take_due(&mut self) -> (Vec<Watch>, ById<Outcome>) {
        let finished = &self.finished;
        let is_due = |w: &Watch| {
            w.ids.iter().all(|id| finished.contains_key(id))
                || w.ids.iter().any(|id| matches!(finished.get(id), Some(Err(_))))
        };
        if !self.watches.iter().any(is_due) {
            return (Vec::new(), ById::default()); // the usual case: nothing to move
        }
        let (due, waiting): (Vec<Watch>, Vec<Watch>) =
            std::mem::take(&mut self.watches).into_iter().partition(is_due);
        self.watches = waiting;
        let mut outcomes = ById::default();
        for id in due.iter().flat_map(|w| w.ids.iter()) {
            if let Some(outcome) = self.finished.remove(id) {
                outcomes.insert(*id, outcome);
            }
        }
        (due, outcomes)
    }

    /// Returns outcomes that callbacks have seen, unless nobody will ask for them.
    pub(crate) fn put_back(&mut self, outcomes: ById<Outcome>) {
        for (id, outcome) in outcomes {
            self.record(id, outcome);
        }
    }

    /// Whether every task of `ids` has finished.
    pub(crate) fn all_done(&self, ids: &[u64]) -> bool {
        ids.iter().all(|id| self.finished.contains_key(id))
    }

    /// Whether some worker has tasks under way.
    pub(crate) fn busy(&self) -> bool {
        self.workers.iter().any(|w| !w.running.is_empty())
    }
}
