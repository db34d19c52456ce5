"""CPython's side of `cargo run --release -p examples-pool --bin side_by_side`.

The same workloads as the Rust side, written the way the notes write them: plain
CPython 3, standard library only, the `fork` start method. Prints one line per
metric, `name value result`: the median of its timed runs (seconds; pairs per second
for the `lock_pairs_*` rows) and the result it computed, which the Rust side checks
before it reports a time; then `python <version>`. Run by the Rust side; by hand:

    python3 examples-pool/python/side_by_side.py --n 1000000 --repeats 3 --items 10000 \
        --trips 1000 --tasks 1000 --pairs 100000 --io 1
"""

import argparse
import ctypes
import multiprocessing as mp
import queue
import statistics
import sys
import threading
import time

M = 1_000_000_007
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Every child asks for SIGKILL when its parent dies, as the Rust side's children
    do, so that a killed run leaves no process behind (a blocked `Queue.get` would wait
    for ever). Costs one system call per child, on both sides."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, 9)


def kernel(lo, hi):
    """The CPU-bound kernel: sum of (i*i) mod 1_000_000_007 for i in lo..hi."""
    total = 0
    for i in range(lo, hi):
        total += (i * i) % M
    return total


def kernel_range(bounds):
    return kernel(*bounds)


def timed(run):
    """Runs `run()` once; returns (seconds, its result)."""
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def median_of(repeats, sample):
    """The median value of `repeats` calls of `sample()`, which returns (value, result),
    and the result, which every call must have computed alike."""
    samples = [sample() for _ in range(repeats)]
    results = {result for _, result in samples}
    if len(results) != 1:
        raise RuntimeError(f"runs disagree: {sorted(results)}")
    return statistics.median(value for value, _ in samples), results.pop()


def cpu_threads(halves):
    results = [0, 0]

    def work(k):
        results[k] = kernel(*halves[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(results)


def put_half(q, bounds):
    die_with_parent()
    q.put(kernel(*bounds))


def cpu_processes(halves):
    q = mp.Queue()
    children = [mp.Process(target=put_half, args=(q, h)) for h in halves]
    for c in children:
        c.start()
    total = q.get() + q.get()
    for c in children:
        c.join()
    return total


def cpu_pool(halves):
    with mp.Pool(2, initializer=die_with_parent) as pool:
        return sum(pool.map(kernel_range, halves))


def nap(_=None):
    time.sleep(0.1)


def io_serial():
    for _ in range(20):
        nap()
    return 20


def io_threads():
    threads = [threading.Thread(target=nap) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(threads)


def nap_child():
    die_with_parent()
    nap()


def io_processes():
    children = [mp.Process(target=nap_child) for _ in range(20)]
    for c in children:
        c.start()
    for c in children:
        c.join()
    return len(children)


def sum_items(q, back, items):
    die_with_parent()  # in the thread case, for the whole process: harmless
    total = 0
    for _ in range(items):
        total += q.get()
    back.put(total)


def stream(items, q, back, consumer):
    """Seconds to put `items` integers into `q` and get the consumer's sum from `back`."""

    def send_and_sum():
        for i in range(items):
            q.put(i)
        return back.get()

    consumer.start()
    sample = timed(send_and_sum)
    consumer.join()
    return sample


def mp_queue(items):
    q, back = mp.Queue(), mp.Queue()
    return stream(items, q, back, mp.Process(target=sum_items, args=(q, back, items)))


def thread_queue(items):
    q, back = queue.Queue(), queue.Queue()
    return stream(items, q, back, threading.Thread(target=sum_items, args=(q, back, items)))


def echo(conn):
    die_with_parent()
    while (x := conn.recv()) is not None:
        conn.send(x)


def pipe_round_trips(trips):
    """Seconds per round trip over a duplex Pipe, after 100 warm-up trips."""
    parent, child_end = mp.Pipe()
    child = mp.Process(target=echo, args=(child_end,))
    child.start()
    for i in range(100):
        parent.send(i)
        parent.recv()
    start = time.perf_counter()
    total = 0
    for i in range(trips):
        parent.send(i)
        total += parent.recv()
    took = time.perf_counter() - start
    parent.send(None)
    child.join()
    return took / trips, total


def noop():
    die_with_parent()


def process_start_join(method="fork", runs=50):
    """Median seconds to start and join one process with `method`, of `runs` after 3
    warm-ups."""
    ctx = mp.get_context(method)
    times = []
    for k in range(runs + 3):
        start = time.perf_counter()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if k >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def ident(x):
    return x


def square_slowly(i):
    time.sleep(0.1)
    return i * i


def pool_background():
    """Pool(3), 8 tasks of 100 ms with apply_async, then the parent sleeps 1 s: how many
    were ready, and the seconds `close` + `join` took then. The result is the sum of the
    squares."""
    pool = mp.Pool(3, initializer=die_with_parent)
    results = [pool.apply_async(square_slowly, (i,)) for i in range(8)]
    time.sleep(1)
    ready = sum(r.ready() for r in results)
    total = sum(r.get() for r in results)
    start = time.perf_counter()
    pool.close()
    pool.join()
    return ready, time.perf_counter() - start, total


def lock_pairs(pairs, threads):
    """Acquire/release pairs per second over all threads, `pairs` per thread."""
    lock = threading.Lock()

    def hammer():
        acquire, release = lock.acquire, lock.release
        for _ in range(pairs):
            acquire()
            release()

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    start = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return pairs * threads / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--trips", type=int, required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--pairs", type=int, required=True)
    parser.add_argument("--io", type=int, required=True, help="repeats of the IO rows")
    parser.add_argument("--starts", type=int, required=True, help="spawn/forkserver starts")
    args = parser.parse_args()
    mp.set_start_method("fork")
    n, reps = args.n, args.repeats
    halves = [(0, n // 2), (n // 2, n)]

    def record(name, value, result):
        print(f"{name} {value!r} {result}", flush=True)

    # First, as on the Rust side: while the process is small.
    record("process_start_join", process_start_join(), 0)
    for method in ("spawn", "forkserver"):
        record(f"start_join_{method}", process_start_join(method, args.starts), 0)
    # Spawn and forkserver leave two helper processes (the fork server and the resource
    # tracker) that would end a moment after this script: end them now, as CPython's
    # own tests do, so that nothing is left once the script has exited.
    from multiprocessing import forkserver, resource_tracker
    forkserver._forkserver._stop()
    resource_tracker._resource_tracker._stop()
    ready, join, total = pool_background()
    record("pool_background_ready", ready, total)
    record("pool_background_join", join, total)
    def median_time(run, repeats=reps):
        return median_of(repeats, lambda: timed(run))

    record("cpu_serial", *median_time(lambda: kernel(0, n)))
    record("cpu_threads", *median_time(lambda: cpu_threads(halves)))
    record("cpu_processes", *median_time(lambda: cpu_processes(halves)))
    record("cpu_pool", *median_time(lambda: cpu_pool(halves)))
    record("io_serial", *median_time(io_serial, args.io))
    record("io_threads", *median_time(io_threads, args.io))
    record("io_processes", *median_time(io_processes, args.io))
    record("queue_processes", *median_of(reps, lambda: mp_queue(args.items)))
    record("queue_threads", *median_of(reps, lambda: thread_queue(args.items)))
    record("pipe_round_trip", *median_of(reps, lambda: pipe_round_trips(args.trips)))
    with mp.Pool(2, initializer=die_with_parent) as pool:
        tasks = range(args.tasks)
        record("pool_map_default", *median_time(lambda: sum(pool.map(ident, tasks))))
        record("pool_map_chunk1", *median_time(lambda: sum(pool.map(ident, tasks, 1))))
    for threads in (1, 2):
        rate = median_of(reps, lambda: (lock_pairs(args.pairs, threads), threads * args.pairs))
        record(f"lock_pairs_{threads}", *rate)
    print("python", sys.version.split()[0])


if __name__ == "__main__":
    main()
