#!/usr/bin/env python3
"""Trial driver for scripts/bench/detect.sh (standard library only).

  detect.py serve --port P --docroot DIR
      The HTTP target, run inside the speaker's namespace. GET /NAME answers 200 while
      DIR/NAME exists and 404 otherwise. Every request is printed on stdout, flushed, as
      "MONOTONIC STATUS PATH": the time is taken when the file is looked at, which is the moment
      the check observes the service.

  detect.py trials --label L --ns-exa NS --peer-cmd CMD... (see --help)
      Starts the target (in NS) and `gobgp monitor global rib -j` (the peer's view), stamps
      every line of both with time.monotonic() as it arrives (CLOCK_MONOTONIC is system-wide,
      so the stamps compare across namespaces), waits for the first announcement, then runs the
      trials: after a random 2-3 s wait the served file is deleted (t0) and the clock stops at
      the first withdrawal of the prefix at GoBGP; after another random wait it is recreated and
      the clock stops at the first announcement. One TSV row per step is appended to --out.
"""

import argparse
import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time

TSV_HEADER = [
    "checker", "step", "trial", "latency_ms", "phase_ms", "dampening_ms", "above_dampening_ms",
    "decision_to_peer_ms", "checks", "loadavg1", "t0_unix", "peer_unix",
]


def serve(args):
    docroot = args.docroot

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            now = time.monotonic()
            name = self.path.lstrip("/").split("?")[0]
            ok = bool(name) and "/" not in name and os.path.exists(os.path.join(docroot, name))
            status = 200 if ok else 404
            body = b"ok\n" if ok else b"gone\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            sys.stdout.write(f"{now:.6f} {status} {self.path}\n")
            sys.stdout.flush()

        def log_message(self, *_):
            pass

    http.server.HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


class Stamped:
    """Lines of a child's stdout, each stamped with time.monotonic() on arrival."""

    def __init__(self, cmd, parse):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     bufsize=0)
        self.parse = parse
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            now = time.monotonic()
            if not chunk:
                return
            buf += chunk
            *complete, buf = buf.split(b"\n")
            with self.cond:
                for raw in complete:
                    for item in self.parse(now, raw.decode(errors="replace")):
                        self.lines.append(item)
                self.cond.notify_all()

    def wait_for(self, pred, after, timeout):
        """The first item with time >= after that satisfies pred, or None after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in self.lines:
                    if item[0] >= after and pred(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def since(self, after):
        with self.cond:
            return [i for i in self.lines if i[0] >= after]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def parse_request(now, line):
    # "MONOTONIC STATUS PATH": the server's own stamp is the one that matters.
    parts = line.split()
    if len(parts) == 3:
        yield (float(parts[0]), int(parts[1]), parts[2])


def parse_monitor(prefix):
    def parse(now, line):
        line = line.strip()
        if not line.startswith(("[", "{")):
            return
        try:
            data = json.loads(line)
        except ValueError:
            return
        for path in data if isinstance(data, list) else [data]:
            nlri = path.get("nlri", {})
            if nlri.get("prefix") == prefix:
                yield (now, bool(path.get("withdrawal", False)))
    return parse


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def trials(args):
    served = os.path.join(args.docroot, args.name)
    with open(served, "w") as f:
        f.write("ok\n")
    monitor = Stamped(args.peer_cmd, parse_monitor(args.prefix))
    time.sleep(1.0)  # let the monitor subscribe before anything can be announced
    server = Stamped(["ip", "netns", "exec", args.ns_exa, sys.executable, "-B", os.path.abspath(__file__),
                      "serve", "--port", str(args.port), "--docroot", args.docroot],
                     parse_request)
    rows = []
    try:
        if monitor.wait_for(lambda e: not e[1], 0.0, args.ready_timeout) is None:
            raise SystemExit(f"detect: {args.label}: {args.prefix} never announced at the peer "
                             f"within {args.ready_timeout} s")
        print(f"detect: {args.label}: announced, starting {args.trials} trials", file=sys.stderr)
        for trial in range(1, args.trials + 1):
            for step in ("down", "up"):
                time.sleep(random.uniform(2.0, 3.0))
                rows.append(one_step(args, monitor, server, served, trial, step))
    finally:
        server.stop()
        monitor.stop()
    with open(args.out, "a") as out:
        for row in rows:
            out.write("\t".join(str(v) for v in row) + "\n")


def one_step(args, monitor, server, served, trial, step):
    down = step == "down"
    needed = args.fall if down else args.rise
    want_status = 404 if down else 200
    t0 = time.monotonic()
    # The checkers' logs carry wall-clock times: keep the offset to relate them afterwards.
    to_unix = time.time() - time.monotonic()
    if down:
        os.unlink(served)
    else:
        with open(served, "w") as f:
            f.write("ok\n")
    event = monitor.wait_for(lambda e: e[1] == down, t0, args.step_timeout)
    if event is None:
        raise SystemExit(f"detect: {args.label}: trial {trial} {step}: nothing at the peer "
                         f"within {args.step_timeout} s")
    t_peer = event[0]
    time.sleep(0.05)  # the server's line for the deciding check may still be in the pipe
    checks = [r for r in server.since(t0) if r[0] <= t_peer and r[2] == "/" + args.name]
    seen = [r for r in checks if r[1] == want_status]
    ms = lambda s: f"{s * 1000:.3f}"  # noqa: E731
    latency = t_peer - t0
    if len(seen) >= needed:
        first, deciding = seen[0][0], seen[needed - 1][0]
        phase = first - t0
        damp = deciding - first
        above = latency - phase - (needed - 1) * args.interval
        row = [args.label, step, trial, ms(latency), ms(phase), ms(damp), ms(above),
               ms(t_peer - deciding), len(checks), loadavg()]
    else:
        # The peer moved with fewer checks than rise/fall: report it, never hide it.
        row = [args.label, step, trial, ms(latency), "NA", "NA", "NA", "NA", len(checks), loadavg()]
        print(f"detect: {args.label}: trial {trial} {step}: only {len(seen)} checks seen "
              f"before the peer moved", file=sys.stderr)
    row += [f"{t0 + to_unix:.6f}", f"{t_peer + to_unix:.6f}"]
    print(f"detect: {args.label} {step} #{trial}: {ms(latency)} ms", file=sys.stderr)
    return row


LABELS = {
    "exabgp-healthcheck": "ExaBGP 5.0.15 healthcheck, curl",
    "ahc-bird": "anycast-healthchecker 0.9.10 + BIRD 2, curl",
    "ka-healthcheck": "kube-anycast healthcheck --http",
    "ka-agent": "kube-anycast agent + exabgp-relay, HTTP probe, VIP on lo",
    "ka-agent-novip": "kube-anycast agent + exabgp-relay, HTTP probe, no VIP",
}


def log_events(checker, logs):
    """Wall-clock times of the checker's own decision lines, where its log has them (ms or
    better): the agent's `service state` report, anycast-healthchecker's `reconfiguring BIRD`
    (logged after the prefix file is rewritten, just before `birdc configure`)."""
    import datetime
    import re
    times = []
    if checker.startswith("ka-agent"):
        path = os.path.join(logs, checker, "agent.log")
        pat = re.compile(r"^(\S+Z)\s+INFO kube_anycast::engine::report: service state ")
        for line in open(path, errors="replace") if os.path.exists(path) else []:
            m = pat.match(line)
            if m:
                ts = m.group(1).replace("Z", "+00:00")
                times.append(datetime.datetime.fromisoformat(ts).timestamp())
    elif checker == "ahc-bird":
        path = os.path.join(logs, checker, "ahc.log")
        pat = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .* reconfiguring BIRD")
        for line in open(path, errors="replace") if os.path.exists(path) else []:
            m = pat.match(line)
            if m:  # the daemon logs local time
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
                times.append(t.timestamp())
    return times


def percentile(values, p):
    """Nearest rank: with n = 20, p99 is the maximum."""
    import math
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def summary(args):
    import csv
    rows = list(csv.DictReader(open(args.tsv), delimiter="\t"))
    events = {}
    for r in rows:
        c = r["checker"]
        if c not in events:
            events[c] = log_events(c, args.logs)
        t0, tp = float(r["t0_unix"]), float(r["peer_unix"])
        before = [t for t in events[c] if t0 <= t <= tp]
        r["log_to_peer_ms"] = f"{(tp - max(before)) * 1000:.3f}" if before else "NA"

    def fmt(v):
        return "–" if not v else "%.1f / %.1f / %.1f / %.1f" % (
            min(v), percentile(v, 50), percentile(v, 99), max(v))

    metrics = ("latency_ms", "phase_ms", "dampening_ms", "above_dampening_ms",
               "decision_to_peer_ms", "log_to_peer_ms")
    md = ["| checker | step | n | latency | above dampening | decision → peer | "
          "checker's log line → peer |",
          "|---|---|---:|---|---|---|---|"]
    with open(os.path.join(args.out, "summary.tsv"), "w") as out:
        out.write("checker\tstep\tn\tmetric\tmin_ms\tp50_ms\tp99_ms\tmax_ms\n")
        for c in dict.fromkeys(r["checker"] for r in rows):
            for step in ("down", "up"):
                sel = [r for r in rows if r["checker"] == c and r["step"] == step]
                if not sel:
                    continue
                cols = {}
                for m in metrics:
                    v = [float(r[m]) for r in sel if r[m] != "NA"]
                    cols[m] = v
                    if v:
                        out.write("\t".join([c, step, str(len(v)), m] + ["%.3f" % x for x in (
                            min(v), percentile(v, 50), percentile(v, 99), max(v))]) + "\n")
                name = "failure → withdrawn" if step == "down" else "recovery → announced"
                md.append(f"| {LABELS.get(c, c)} | {name} | {len(sel)} | {fmt(cols['latency_ms'])} | "
                          f"{fmt(cols['above_dampening_ms'])} | {fmt(cols['decision_to_peer_ms'])} | "
                          f"{fmt(cols['log_to_peer_ms'])} |")
    md.append("")
    md.append("All in ms, min / p50 / p99 / max (nearest rank).")
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--docroot", required=True)
    t = sub.add_parser("trials")
    t.add_argument("--label", required=True)
    t.add_argument("--ns-exa", required=True, help="the speaker's namespace (the target runs there)")
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--docroot", required=True)
    t.add_argument("--name", default="svc", help="the served file whose deletion is the failure")
    t.add_argument("--prefix", required=True)
    t.add_argument("--trials", type=int, default=20)
    t.add_argument("--rise", type=int, default=3)
    t.add_argument("--fall", type=int, default=2)
    t.add_argument("--interval", type=float, default=1.0)
    t.add_argument("--ready-timeout", type=float, default=60.0)
    t.add_argument("--step-timeout", type=float, default=15.0)
    t.add_argument("--out", required=True)
    t.add_argument("peer_cmd", nargs=argparse.REMAINDER,
                   help="after --: the command that prints `gobgp monitor global rib -j` lines")
    m = sub.add_parser("summary")
    m.add_argument("--tsv", required=True)
    m.add_argument("--logs", required=True, help="DIR/CHECKER/*.log")
    m.add_argument("--out", required=True)
    args = p.parse_args()
    if args.mode == "serve":
        serve(args)
    elif args.mode == "summary":
        summary(args)
    else:
        if args.peer_cmd and args.peer_cmd[0] == "--":
            args.peer_cmd = args.peer_cmd[1:]
        if not args.peer_cmd:
            p.error("trials needs the monitor command after --")
        trials(args)


if __name__ == "__main__":
    main()
