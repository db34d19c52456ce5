//! The ring's tests: many putters and getters, deadlines, and random corruption.

use super::*;

/// `message` with the room for a header in front, as `send` takes it.
fn framed(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0; HEADER];
    frame.extend_from_slice(message);
    frame
}

fn send(ring: &ByteRing, message: &[u8]) {
    ring.send(&mut framed(message), u32::MAX, None).unwrap();
}

fn recv(ring: &ByteRing, deadline: Option<Instant>) -> Option<Vec<u8>> {
    ring.recv(deadline, || {}, <[u8]>::to_vec).unwrap()
}

#[test]
fn many_putters_and_getters_each_message_whole_and_once() {
    let ring = ByteRing::new().unwrap();
    // Sizes from empty to twice the ring: the long ones go through in several frames.
    let sizes = [0, 1, 3, 4, 5, 1000, 70_000, CAPACITY - 1, CAPACITY, 2 * CAPACITY + 7];
    let putters: Vec<_> = (0..3_u8)
        .map(|p| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for (k, &size) in sizes.iter().enumerate() {
                    let mut message = vec![p; size];
                    if let Some(first) = message.first_mut() {
                        *first = k as u8; // which size it is
                    }
                    send(&ring, &message);
                }
            })
        })
        .collect();
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(m) = recv(&ring, Some(Instant::now() + Duration::from_secs(2))) {
                    got.push(m);
                }
                got
            })
        })
        .collect();
    putters.into_iter().for_each(|t| t.join().unwrap());
    let mut got: Vec<Vec<u8>> = getters.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert_eq!(got.len(), 3 * sizes.len());
    got.sort_by_key(|m| (m.len(), m.get(1).copied()));
    for m in &got {
        let k = sizes.iter().position(|&s| s == m.len()).expect("a size that was sent");
        if m.len() > 1 {
            assert_eq!(m[0] as usize, k, "the message is the one of its size");
            assert!(m[1..].iter().all(|&b| b == m[1]), "not mixed with another");
        }
    }
    assert_eq!(ring.len(), 0);
}

#[test]
fn a_get_with_a_deadline_returns_none_when_nothing_comes() {
    let ring = ByteRing::new().unwrap();
    let started = Instant::now();
    assert!(recv(&ring, Some(started + Duration::from_millis(50))).is_none());
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(recv(&ring, Some(Instant::now())).is_none(), "get_nowait");
    send(&ring, b"x");
    assert_eq!(ring.len(), 1);
    assert_eq!(recv(&ring, Some(Instant::now())).unwrap(), b"x");
}

#[test]
fn a_put_that_times_out_half_way_is_dropped_whole() {
    let ring = ByteRing::new().unwrap();
    // Longer than the ring, with no getter: it times out after filling it.
    let long = vec![1; 2 * CAPACITY];
    let deadline = Some(Instant::now() + Duration::from_millis(50));
    assert!(matches!(ring.send(&mut framed(&long), u32::MAX, deadline), Err(Failure::TimedOut)));
    assert_eq!(ring.len(), 0, "not a whole message");
    // A getter now drains the unfinished frames and takes the next message whole.
    let getter = {
        let ring = ring.clone();
        std::thread::spawn(move || recv(&ring, Some(Instant::now() + Duration::from_secs(10))))
    };
    send(&ring, b"whole");
    assert_eq!(getter.join().unwrap().unwrap(), b"whole");
}

#[test]
fn the_count_of_messages_bounds_a_put() {
    let ring = ByteRing::new().unwrap();
    ring.send(&mut framed(b"a"), 1, None).unwrap();
    let soon = Some(Instant::now() + Duration::from_millis(20));
    assert!(matches!(ring.send(&mut framed(b"b"), 1, soon), Err(Failure::TimedOut)));
    assert_eq!(recv(&ring, None).unwrap(), b"a");
    ring.send(&mut framed(b"b"), 1, Some(Instant::now())).unwrap();
}

/// Random corruption of the ring's shared memory (its positions, its headers, its
/// bytes), after some messages: every call gives a message, `None` at its deadline,
/// or an error; none panics (in a debug build too), none allocates more than the
/// longest message, none waits past its deadline (and a frame's worth of checks).
#[test]
fn random_corruption_gives_errors_not_panics() {
    let seeds: Vec<u64> = match std::env::var("FUZZ_SEEDS").ok().and_then(|n| n.parse().ok()) {
        Some(n) => (1..=n).collect(),
        None => (1..=60).collect(),
    };
    for seed in seeds {
        let mut x: u64 = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ring = ByteRing::new().unwrap();
        for k in 0..(next() % 5) {
            send(&ring, &vec![k as u8; (next() % 300_000) as usize]);
        }
        for _ in 0..(next() % 4 + 1) {
            match next() % 3 {
                0 => ring.shared.tail.store(next(), Ordering::Release),
                1 => ring.shared.head.store(next() & BYTE_MASK, Ordering::Release),
                _ => {
                    let at = (next() % 64) as usize;
                    // SAFETY: a test alone with the ring: nobody reads or writes it now.
                    unsafe { (*ring.shared.bytes.get())[at] = next() as u8 };
                }
            }
        }
        let started = Instant::now();
        for _ in 0..3 {
            let soon = Some(Instant::now() + Duration::from_millis(20));
            match ring.recv(soon, || {}, <[u8]>::to_vec) {
                Ok(Some(message)) => assert!(message.len() <= MAX_MESSAGE),
                Ok(None) | Err(Failure::Broken(_)) => {}
                Err(e) => panic!("seed {seed}: {e}"),
            }
            match ring.send(&mut framed(b"after"), u32::MAX, soon) {
                Ok(()) | Err(Failure::Broken(_) | Failure::TimedOut) => {}
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5), "seed {seed}: waited");
    }
}

#[test]
fn nonsense_in_the_shared_memory_breaks_the_ring_without_a_panic() {
    let ring = ByteRing::new().unwrap();
    send(&ring, b"hello");
    // A header that claims a frame longer than what was published.
    // SAFETY: a test alone with the ring: nobody else reads or writes it.
    unsafe { (*ring.shared.bytes.get())[0] = 0xff };
    let err = ring.recv(None, || {}, <[u8]>::to_vec).unwrap_err();
    assert!(matches!(err, Failure::Broken(_)), "{err}");
    assert!(matches!(ring.send(&mut framed(b"x"), u32::MAX, None), Err(Failure::Broken(_))));
}
