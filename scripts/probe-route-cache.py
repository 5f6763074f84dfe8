#!/usr/bin/env python3
"""Memory under a flood of distinct anonymous directions requests (issue 17, item 3).

Starts the release server on the embedded default with a fresh DATA_DIR (the first start
imports data/helsinki.osm.pbf), samples its RSS from /proc/<pid>/status, fires distinct
many-waypoint requests from several client threads, and reports RSS before, at the peak and
after, with the answers' status codes and sizes.

    ./scripts/probe-route-cache.py                      # cargo build --release, then probe
    ./scripts/probe-route-cache.py --binary old/geostack --no-build
    ./scripts/probe-route-cache.py --no-alternatives     # the largest request the caps allow
    ./scripts/probe-route-cache.py --env ROUTE_CACHE_BYTES=0

Standard library only. The server is started and stopped by this script; nothing else is
touched. mimalloc is the allocator, so RSS may stay near its peak after the flood: what
matters is that the peak is bounded.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Inside the sample extract's streets (central Helsinki), so stops snap to a walkable road.
SOUTH, NORTH, WEST, EAST = 60.158, 60.190, 24.915, 24.965


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def wait_ready(port, proc, timeout_s):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode} before it was ready")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            status, _ = get(conn, "/readyz")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("the server was not ready in time")


def point(rng):
    return f"{rng.uniform(SOUTH, NORTH):.6f},{rng.uniform(WEST, EAST):.6f}"


def query(rng, args):
    stops = [point(rng) for _ in range(args.waypoints + 2)]
    q = f"/v1/nav?origin={stops[0]}&destination={stops[-1]}&mode={args.mode}"
    if args.waypoints:
        q += "&waypoints=" + "%7C".join(stops[1:-1])
    if args.alternatives:
        q += "&alternatives=true"
    return q


class Sampler(threading.Thread):
    """Polls RSS every 50 ms and remembers the highest value seen."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            rss = rss_kib(self.pid)
            if rss is None:
                return
            self.peak = max(self.peak, rss)
            time.sleep(0.05)


def fire(port, queries, results, lock):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for q in queries:
        try:
            status, body = get(conn, q)
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            status, body = f"error: {type(e).__name__}", b""
        detail = ""
        if isinstance(status, int) and status != 200:
            try:
                detail = json.loads(body).get("detail", "")[:90]
            except ValueError:
                pass
        elif status == 200:
            try:
                detail = json.loads(body).get("status", "")
            except ValueError:
                pass
        with lock:
            results["status"][(status, detail)] += 1
            results["bytes"] += len(body)
    conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", help="server binary (default: target/release/geostack, built)")
    p.add_argument("--no-build", action="store_true", help="do not run cargo build --release")
    p.add_argument("--requests", type=int, default=12_000)
    p.add_argument("--waypoints", type=int, default=23)
    p.add_argument("--mode", default="walking")
    p.add_argument("--alternatives", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--clients", type=int, default=8, help="client threads")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--settle-s", type=float, default=5.0, help="idle time before 'after'")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    p.add_argument("--json", action="store_true", help="print one JSON line only")
    args = p.parse_args()

    if args.binary:
        binary = Path(args.binary).resolve()
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = target / "release" / "geostack"
        if not args.no_build:
            subprocess.run(["cargo", "build", "--release", "--bin", "geostack"], cwd=ROOT, check=True)
    if not binary.exists():
        sys.exit(f"no server binary at {binary}")

    data_dir = Path(tempfile.mkdtemp(prefix="probe-route-cache."))
    port = free_port()
    env = dict(os.environ)
    env.update(
        LISTEN_ADDR=f"127.0.0.1:{port}",
        DATA_DIR=str(data_dir),
        SAMPLE_DATA=str(ROOT / "data" / "helsinki.osm.pbf"),
        RUST_LOG="warn",
    )
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    for key in ("DATABASE_URL", "REDIS_URL", "TILES_URL"):
        if not any(e.startswith(key + "=") for e in args.env):
            env.pop(key, None)
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([str(binary), "serve"], env=env, stdout=log, stderr=log, cwd=data_dir)
    try:
        started = time.time()
        wait_ready(port, proc, 600)
        ready_s = time.time() - started
        time.sleep(1)
        before = rss_kib(proc.pid)

        rng = random.Random(args.seed)
        queries = [query(rng, args) for _ in range(args.requests)]
        assert len(set(queries)) == len(queries)
        sampler = Sampler(proc.pid)
        sampler.start()
        results = {"status": Counter(), "bytes": 0}
        lock = threading.Lock()
        threads = [
            threading.Thread(target=fire, args=(port, queries[i :: args.clients], results, lock))
            for i in range(args.clients)
        ]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - t0
        end_of_flood = rss_kib(proc.pid)
        time.sleep(args.settle_s)
        sampler.stop.set()
        sampler.join()
        after = rss_kib(proc.pid)
        hwm = rss_kib(proc.pid, "VmHWM")
        metrics = ""
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            _, body = get(conn, "/metrics")
            metrics = body.decode()
        except OSError:
            pass
        cache_bytes = next(
            (line.split()[-1] for line in metrics.splitlines() if line.startswith("nav_route_cache_bytes")),
            None,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)

    mib = lambda kib: round(kib / 1024, 1)
    summary = {
        "binary": str(binary),
        "requests": args.requests,
        "waypoints": args.waypoints,
        "mode": args.mode,
        "alternatives": args.alternatives,
        "clients": args.clients,
        "env": args.env,
        "ready_s": round(ready_s, 1),
        "seconds": round(elapsed, 1),
        "requests_per_s": round(args.requests / elapsed, 1),
        "response_mib": mib(results["bytes"] / 1024),
        "statuses": {f"{s} {d}".strip(): n for (s, d), n in results["status"].most_common()},
        "rss_before_mib": mib(before),
        "rss_peak_sampled_mib": mib(max(sampler.peak, end_of_flood or 0)),
        "rss_peak_vmhwm_mib": mib(hwm),
        "rss_end_of_flood_mib": mib(end_of_flood),
        "rss_after_mib": mib(after),
        "nav_route_cache_bytes": cache_bytes,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
