#!/usr/bin/env python3
"""The measuring half of scripts/bench/k8s.sh: API objects, latency trials, drain, cold start
and /proc readings, for kube-anycast's Kubernetes agent and for MetalLB's speaker.

Runs inside the speaker's network namespace (the API server listens on its loopback) and follows
GoBGP with `ip netns exec PEER_NS gobgp monitor global rib -j`, stamping every line with
time.monotonic() when it arrives (CLOCK_MONOTONIC is one clock for every namespace). Talks to
kube-apiserver over one persistent HTTPS connection with the admin token of the kubeconfig, so
a write costs one round trip and no process start. Standard library only.

Service i (0-based) is svc-NNNN in namespace `bench`, with address 100.64.0.0 + i + 1 for both
implementations (MetalLB gets it through the metallb.io/loadBalancerIPs annotation), a Service,
an EndpointSlice whose first endpoint is on this node (NODE, default node-a) and, for
kube-anycast, one Pod per endpoint (spec.nodeName; their Ready condition is patched in status,
since no kubelet runs) and an AnycastService with readiness.service. With both speakers at
once (`paired`), MetalLB's Services are another range of indices (k8s.sh: from 10,000).
"""

import argparse
import base64
import http.client
import ipaddress
import json
import os
import queue
import random
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time

NS = "bench"
# Enough simulated nodes for 10 endpoints per Service, one per node.
OTHER_NODES = [f"node-{c}" for c in "bcdefghij"]
BASE = ipaddress.IPv4Address("100.64.0.0")
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
GRACEFUL_SHUTDOWN = 65535 << 16


def svc_name(i):
    return f"svc-{i:04d}"


def svc_ip(i):
    return str(BASE + i + 1)


def svc_prefix(i):
    return svc_ip(i) + "/32"


class Api:
    """One keep-alive HTTPS connection to kube-apiserver, reconnected once on failure."""

    def __init__(self, kubeconfig):
        text = open(kubeconfig, encoding="utf-8").read()
        self.server = re.search(r"server: https://([^\s]+)", text).group(1)
        ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", text).group(1))
        self.token = re.search(r"token: (\S+)", text).group(1)
        self.ctx = ssl.create_default_context(cadata=ca.decode())
        self.conn = None

    def _connect(self):
        host, port = self.server.rsplit(":", 1)
        self.conn = http.client.HTTPSConnection(host, int(port), context=self.ctx, timeout=30)

    def req(self, method, path, body=None, ctype="application/json", ok=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self._connect()
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                out = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        if ok and resp.status not in ok:
            raise RuntimeError(f"{method} {path}: {resp.status} {out[:300]!r}")
        return resp.status, out

    def create(self, path, obj):
        """POST, or leave an existing object alone (idempotent set-up)."""
        self.req("POST", path, obj, ok=(200, 201, 409))

    def merge(self, path, patch):
        self.req("PATCH", path, patch, ctype="application/merge-patch+json")


def empty(q):
    """Drops whatever a queue holds now."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class Monitor:
    """`gobgp monitor global rib -j` in the peer's namespace; each path with its arrival time."""

    def __init__(self, peer_ns):
        self.q = queue.Queue()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", peer_ns, "gobgp", "-u", "127.0.0.1", "-p", "50051",
             "monitor", "global", "rib", "-j"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        # The CLI prints nothing until a change, so there is no "subscribed" marker: give it
        # time to connect and subscribe.
        time.sleep(1.0)

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                paths = json.loads(line)
            except ValueError:
                continue
            for p in paths if isinstance(paths, list) else [paths]:
                comms = []
                for a in p.get("attrs", []):
                    if a.get("type") == 8:
                        comms = a.get("communities", [])
                self.q.put((t, p["nlri"]["prefix"], bool(p.get("withdrawal")),
                            GRACEFUL_SHUTDOWN in comms))

    def drain(self):
        empty(self.q)

    def wait(self, match, deadline):
        """The first event that match() accepts, or None at the deadline (monotonic)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if match(ev):
                return ev

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class Watch:
    """A watch on one object (by name) through its own connection; each event with its arrival
    time. It shows when a watcher (the agent or the speaker) can first know of a write."""

    def __init__(self, api, collection, name):
        self.q = queue.Queue()
        host, port = api.server.rsplit(":", 1)
        self.conn = http.client.HTTPSConnection(host, int(port), context=api.ctx, timeout=None)
        _, body = api.req("GET", f"{collection}?fieldSelector=metadata.name%3D{name}")
        rv = json.loads(body)["metadata"]["resourceVersion"]
        self.conn.request("GET", f"{collection}?watch=1&fieldSelector=metadata.name%3D{name}"
                          f"&resourceVersion={rv}&allowWatchBookmarks=false",
                          headers={"Authorization": "Bearer " + api.token})
        self.resp = self.conn.getresponse()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                self.q.put(time.monotonic())
        except Exception:  # noqa: BLE001 - the connection is closed under it at the end
            return

    def drain(self):
        empty(self.q)

    def next(self, deadline):
        try:
            return self.q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


def rib_count(peer_ns):
    out = subprocess.run(
        ["ip", "netns", "exec", peer_ns, "gobgp", "-u", "127.0.0.1", "-p", "50051", "global",
         "rib", "summary", "-a", "ipv4"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"Path: (\d+)", out)
    return int(m.group(1)) if m else 0


# --- objects ---------------------------------------------------------------------------------

def node(name):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}


def pod(name, ns, node_name, labels):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node_name,
                     "containers": [{"name": "c", "image": "registry.invalid/bench:1"}]}}


def pod_status(ip, ready):
    return {"status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def endpoint_nodes(per_service):
    return ([None] + OTHER_NODES * per_service)[:per_service]


def ep_ip(i, k):
    return f"10.{128 + k}.{i // 256}.{i % 256}"


def slice_endpoints(i, per_service, local_ready=True):
    eps = []
    for k in range(per_service):
        ready = local_ready if k == 0 else True
        eps.append({"addresses": [ep_ip(i, k)],
                    "nodeName": NODE if k == 0 else OTHER_NODES[(k - 1) % len(OTHER_NODES)],
                    "conditions": {"ready": ready, "serving": ready, "terminating": False}})
    return eps


def endpoint_slice(i, per_service):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": svc_name(i) + "-bench", "namespace": NS,
                         "labels": {"kubernetes.io/service-name": svc_name(i),
                                    "endpointslice.kubernetes.io/managed-by": "bench"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": slice_endpoints(i, per_service)}


def service(i, impl):
    spec = {"selector": {"app": svc_name(i)},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    meta = {"name": svc_name(i), "namespace": NS}
    if impl == "metallb":
        spec.update({"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                     "allocateLoadBalancerNodePorts": False})
        meta["annotations"] = {"metallb.io/loadBalancerIPs": svc_ip(i)}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def anycast_service(i):
    return {"apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastService",
            "metadata": {"name": svc_name(i), "namespace": NS},
            "spec": {"addresses": [svc_ip(i)], "readiness": {"service": svc_name(i)}}}


def pod_name(i, k):
    return f"{svc_name(i)}-{k}"


def pods_path(name=None, status=False):
    p = f"/api/v1/namespaces/{NS}/pods"
    if name:
        p += "/" + name + ("/status" if status else "")
    return p


def slice_path(i=None):
    p = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
    return p if i is None else p + "/" + svc_name(i) + "-bench"


def node_path(name=None):
    return "/api/v1/nodes" + ("/" + name if name else "")


def cmd_setup(api, args):
    for n in [NODE] + OTHER_NODES:
        api.create(node_path(), node(n))
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": NS}})
    if args.impl == "metallb":
        mns = "metallb-system"
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": mns}})
        # Both binaries GET their own Pod at start for owner references.
        for name in ("speaker-" + NODE, "controller-0"):
            api.create(f"/api/v1/namespaces/{mns}/pods", pod(name, mns, NODE, {"app": "metallb"}))
        base = f"/apis/metallb.io/v1beta1/namespaces/{mns}"
        api.create(base + "/ipaddresspools", {
            "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": "pool", "namespace": mns},
            "spec": {"addresses": ["100.64.0.0/16"]}})
        api.create(f"/apis/metallb.io/v1beta2/namespaces/{mns}/bgppeers", {
            "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
            "metadata": {"name": "gobgp", "namespace": mns},
            "spec": dict({"myASN": 65001, "peerASN": 65000, "peerAddress": "10.255.0.2"},
                         **({"sourceAddress": args.source_address}
                            if args.source_address else {}))})
        api.create(base + "/bgpadvertisements", {
            "apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
            "metadata": {"name": "adv", "namespace": mns},
            "spec": {"ipAddressPools": ["pool"]}})
    else:
        api.create("/apis/kube-anycast.io/v1alpha1/anycastpools", {
            "apiVersion": "kube-anycast.io/v1alpha1", "kind": "AnycastPool",
            "metadata": {"name": "bench"},
            "spec": {"cidrs": ["100.64.0.0/16"],
                     "drain": {"mode": "GracefulShutdown", "delay": args.drain_delay}}})


def cmd_pool_drain(api, args):
    api.merge("/apis/kube-anycast.io/v1alpha1/anycastpools/bench",
              {"spec": {"drain": {"mode": args.mode, "delay": args.delay}}})


def in_parallel(api, items, work, workers=4):
    """Runs work(api, item) over items on a few connections: set-up, not measured, and the API
    server answers several requests at once faster than one after the other."""
    errors = []

    def run(part):
        conn = Api.__new__(Api)
        conn.__dict__.update(api.__dict__, conn=None)
        try:
            for item in part:
                work(conn, item)
        except Exception as e:  # noqa: BLE001 - reported below, the run fails
            errors.append(e)

    threads = [threading.Thread(target=run, args=(items[w::workers],)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def cmd_services(api, args):
    """Services [from, to) with `endpoints` endpoints each (the first on this node)."""
    t0 = time.monotonic()

    def one(conn, i):
        conn.create(f"/api/v1/namespaces/{NS}/services", service(i, args.impl))
        conn.create(slice_path(), endpoint_slice(i, args.endpoints))
        if args.impl == "kat":
            make_pods(conn, i, range(args.endpoints))
            conn.create("/apis/kube-anycast.io/v1alpha1/namespaces/bench/anycastservices",
                        anycast_service(i))

    in_parallel(api, list(range(args.start, args.end)), one)
    print(f"created services {args.start}..{args.end - 1} in {time.monotonic() - t0:.1f} s",
          file=sys.stderr)


def make_pods(api, i, ks):
    for k in ks:
        node_name = NODE if k == 0 else OTHER_NODES[(k - 1) % len(OTHER_NODES)]
        api.create(pods_path(), pod(pod_name(i, k), NS, node_name, {"app": svc_name(i)}))
        api.merge(pods_path(pod_name(i, k), status=True), pod_status(ep_ip(i, k), True))


def cmd_endpoints(api, args):
    """Grows services [0, count) to `endpoints` endpoints each: the slices, and the Pods on the
    other nodes (kube-anycast)."""
    t0 = time.monotonic()

    def one(conn, i):
        conn.merge(slice_path(i), {"endpoints": slice_endpoints(i, args.endpoints)})
        if args.impl == "kat":
            make_pods(conn, i, range(1, args.endpoints))

    in_parallel(api, list(range(args.count)), one)
    print(f"{args.count} services now have {args.endpoints} endpoints each "
          f"({time.monotonic() - t0:.1f} s)", file=sys.stderr)


def cmd_wait_lb(api, args):
    """Waits until `count` Services have a LoadBalancer ingress (MetalLB's controller)."""
    deadline = time.monotonic() + args.timeout
    n = 0
    while time.monotonic() < deadline:
        _, body = api.req("GET", f"/api/v1/namespaces/{NS}/services")
        items = json.loads(body)["items"]
        n = sum(1 for s in items if s.get("status", {}).get("loadBalancer", {}).get("ingress"))
        if n >= args.count:
            return
        time.sleep(0.5)
    sys.exit(f"only {n} of {args.count} Services have an address after {args.timeout} s")


def cmd_wait_routes(_api, args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        n = rib_count(args.peer_ns)
        if n == args.count:
            return
        time.sleep(0.2)
    sys.exit(f"GoBGP holds {rib_count(args.peer_ns)} paths, not {args.count}, "
             f"after {args.timeout} s")


# --- latency ---------------------------------------------------------------------------------

def set_ready(api, source, i, ready, endpoints):
    if source == "pods":
        api.merge(pods_path(pod_name(i, 0), status=True), pod_status(ep_ip(i, 0), ready))
    else:
        # What the EndpointSlice controller writes for a pod that fails readiness and is not
        # terminating; the whole list is replaced (merge patch), the other endpoints unchanged.
        api.merge(slice_path(i), {"endpoints": slice_endpoints(i, endpoints, ready)})


def step(api, mon, watch, source, index, ready, endpoints, timeout):
    """One readiness write for service `index` and the times (ms from just before it) until
    GoBGP shows the change, until the write returned, and until the watch saw it."""
    prefix = svc_prefix(index)
    mon.drain()
    watch.drain()
    t0 = time.monotonic()
    set_ready(api, source, index, ready, endpoints)
    t_api = time.monotonic()
    ev = mon.wait(lambda e: e[1] == prefix and e[2] == (not ready), t0 + timeout)
    t_watch = watch.next(t0 + timeout)
    ms = "timeout" if ev is None else f"{(ev[0] - t0) * 1000:.2f}"
    return (ms, f"{(t_api - t0) * 1000:.2f}",
            "-" if t_watch is None else f"{(t_watch - t0) * 1000:.2f}")


def object_watch(api, source, index):
    if source == "pods":
        return Watch(api, pods_path(), pod_name(index, 0))
    return Watch(api, slice_path(), svc_name(index) + "-bench")


def write_rows(path, rows):
    with open(path, "a", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")


def cmd_trials(api, args):
    mon = Monitor(args.peer_ns)
    watch = object_watch(api, args.source, args.index)
    rows = []
    try:
        for trial in range(args.trials):
            for direction, ready in (("withdraw", False), ("announce", True)):
                time.sleep(random.uniform(args.pause_min, args.pause_max))
                times = step(api, mon, watch, args.source, args.index, ready, args.endpoints,
                             args.timeout)
                rows.append((args.label, args.size, direction, trial) + times)
                if times[0] == "timeout":
                    # Leave the service ready for the next step whatever happened.
                    print(f"{args.label} N={args.size} {direction} trial {trial}: timeout",
                          file=sys.stderr)
    finally:
        set_ready(api, args.source, args.index, True, args.endpoints)
        mon.close()
        watch.close()
    write_rows(args.out, rows)


def cmd_paired(api, args):
    """Trials of two speakers on one API server and one GoBGP, each with its own Services,
    alternating: in each round both take one withdraw and one announce, in a random order, so
    a drift of the machine reaches both alike. EndpointSlice writes for both."""
    mon = Monitor(args.peer_ns)
    sides = [(args.label_a, args.index_a), (args.label_b, args.index_b)]
    watches = {i: object_watch(api, "slices", i) for _, i in sides}
    rows = []
    try:
        for trial in range(args.trials):
            random.shuffle(sides)
            for label, index in sides:
                for direction, ready in (("withdraw", False), ("announce", True)):
                    time.sleep(random.uniform(args.pause_min, args.pause_max))
                    times = step(api, mon, watches[index], "slices", index, ready, 1,
                                 args.timeout)
                    rows.append((label, args.size, direction, trial) + times)
                    if times[0] == "timeout":
                        print(f"{label} N={args.size} {direction} trial {trial}: timeout",
                              file=sys.stderr)
    finally:
        for _, index in sides:
            set_ready(api, "slices", index, True, 1)
        mon.close()
        for w in watches.values():
            w.close()
    write_rows(args.out, rows)


# --- drain -----------------------------------------------------------------------------------

def cmd_drain(api, args):
    """One Node patch (add or remove the exclude label, or cordon/uncordon), then the times of
    the first and last change of each kind at the peer until `count` prefixes had the last one."""
    mon = Monitor(args.peer_ns)
    if args.change == "label":
        patch = {"metadata": {"labels": {EXCLUDE_LABEL: "" if args.on else None}}}
    else:
        patch = {"spec": {"unschedulable": True if args.on else None}}
    firsts, lasts, seen = {}, {}, {}
    t0 = time.monotonic()
    api.merge(node_path(NODE), patch)
    deadline = t0 + args.timeout
    final = args.expect  # withdraw | announce
    done = set()
    while len(done) < args.count:
        ev = mon.wait(lambda e: True, deadline)
        if ev is None:
            break
        t, prefix, withdrawn, gshut = ev
        kind = "withdraw" if withdrawn else ("gshut" if gshut else "announce")
        firsts.setdefault(kind, t)
        lasts[kind] = t
        seen.setdefault(kind, set()).add(prefix)
        if kind == final:
            done.add(prefix)
    mon.close()
    with open(args.out, "a", encoding="utf-8") as f:
        for kind in sorted(firsts):
            f.write(f"{args.label}\t{kind}\t{len(seen[kind])}\t"
                    f"{(firsts[kind] - t0) * 1000:.1f}\t{(lasts[kind] - t0) * 1000:.1f}\n")
    if len(done) < args.count:
        sys.exit(f"{args.label}: only {len(done)} of {args.count} prefixes reached "
                 f"'{final}' in {args.timeout} s")


# --- cold start ------------------------------------------------------------------------------

def cmd_cold(_api, args):
    """Starts `cmd` (detached; its PID goes to --pidfile) and times the first and the last of
    `count` prefixes announced at the peer, from just before the start."""
    mon = Monitor(args.peer_ns)
    log = open(args.log, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen(args.command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    with open(args.pidfile, "w", encoding="utf-8") as f:
        f.write(f"{proc.pid}\n")
    got, first, last = set(), None, None
    deadline = t0 + args.timeout
    while len(got) < args.count:
        ev = mon.wait(lambda e: not e[2], deadline)
        if ev is None:
            break
        first = first or ev[0]
        last = ev[0]
        got.add(ev[1])
    watched = proc.pid
    if args.hwm_pidfile:
        with open(args.hwm_pidfile, encoding="utf-8") as f:
            watched = int(f.read().split()[0])
    hwm = read_status(watched).get("VmHWM", 0)
    mon.close()
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(f"{args.label}\t{len(got)}\t"
                f"{'-' if first is None else f'{(first - t0) * 1000:.1f}'}\t"
                f"{'-' if last is None else f'{(last - t0) * 1000:.1f}'}\t{hwm / 1024:.1f}\n")
    if len(got) < args.count:
        sys.exit(f"{args.label}: only {len(got)} of {args.count} routes in {args.timeout} s")


# --- the floor: ExaBGP alone ----------------------------------------------------------------

def cmd_api_feed(_api, args):
    """ExaBGP's API process for the floor run: copies lines from a FIFO to stdout at once and
    drains ExaBGP's answers from stdin (ExaBGP blocks when that pipe fills)."""
    threading.Thread(target=lambda: [None for _ in sys.stdin], daemon=True).start()
    while True:
        with open(args.fifo, encoding="utf-8") as f:
            for line in f:
                sys.stdout.write(line)
                sys.stdout.flush()


def cmd_floor(_api, args):
    """A text API command written to ExaBGP (through api-feed) -> the change at GoBGP: what
    ExaBGP and the BGP hop cost without any agent."""
    mon = Monitor(args.peer_ns)
    prefix = "100.64.15.254/32"
    rows = []
    with open(args.fifo, "w", encoding="utf-8") as fifo:
        # Other routes already announced, as when an agent serves N services.
        for i in range(args.preload):
            fifo.write(f"announce route 100.65.{i >> 8 & 255}.{i & 255}/32 next-hop self med 100\n")
        fifo.flush()
        deadline = time.monotonic() + args.timeout * 10
        while args.preload and rib_count(args.peer_ns) < args.preload:
            if time.monotonic() > deadline:
                raise SystemExit(f"floor: {args.preload} preloaded routes did not reach the peer")
            time.sleep(0.2)
        for trial in range(args.trials):
            for direction, line in (
                    ("announce", f"announce route {prefix} next-hop self med 100"),
                    ("withdraw", f"withdraw route {prefix} next-hop self")):
                time.sleep(random.uniform(args.pause_min, args.pause_max))
                mon.drain()
                t0 = time.monotonic()
                fifo.write(line + "\n")
                fifo.flush()
                ev = mon.wait(lambda e, w=direction == "withdraw": e[1] == prefix and e[2] == w,
                              t0 + args.timeout)
                rows.append((args.label, args.preload + 1, direction, trial,
                             "timeout" if ev is None else f"{(ev[0] - t0) * 1000:.2f}", "0", "-"))
        if args.drain_out and args.preload:
            # The floor of a drain: every preloaded route withdrawn at once, 500 prefixes per
            # line as the agent's driver groups them.
            prefixes = [f"100.65.{i >> 8 & 255}.{i & 255}/32" for i in range(args.preload)]
            mon.drain()
            t0 = time.monotonic()
            for i in range(0, len(prefixes), 500):
                fifo.write("withdraw attributes next-hop self nlri " + " ".join(prefixes[i:i + 500]) + "\n")
            fifo.flush()
            first = last = None
            gone = set()
            while len(gone) < len(prefixes):
                ev = mon.wait(lambda e: e[2], t0 + args.timeout)
                if ev is None:
                    break
                first = first or ev[0]
                last = ev[0]
                gone.add(ev[1])
            if last is not None:
                with open(args.drain_out, "a", encoding="utf-8") as f:
                    f.write(f"floor: ExaBGP 5.0.15 alone, {len(prefixes)} withdrawals\twithdraw\t"
                            f"{len(gone)}\t{(first - t0) * 1000:.1f}\t{(last - t0) * 1000:.1f}\n")
    mon.close()
    with open(args.out, "a", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")


# --- resources -------------------------------------------------------------------------------

def read_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cmd_resources(_api, args):
    """Idle CPU over a window and memory at its end, for each NAME=PID."""
    procs = [p.split("=", 1) for p in args.procs]
    tick = os.sysconf("SC_CLK_TCK")
    before = {n: cpu_ticks(p) for n, p in procs}
    t0 = time.monotonic()
    time.sleep(args.window)
    span = time.monotonic() - t0
    with open(args.out, "a", encoding="utf-8") as f:
        for n, p in procs:
            cpu = (cpu_ticks(p) - before[n]) / tick * 60 / span
            st = read_status(p)
            f.write(f"{args.label}\t{args.size}\t{n}\t{cpu:.3f}\t"
                    f"{st.get('VmRSS', 0) / 1024:.1f}\t{st.get('RssAnon', 0) / 1024:.1f}\t"
                    f"{st.get('VmHWM', 0) / 1024:.1f}\n")


# --- summary ---------------------------------------------------------------------------------

def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def watch_p50(values):
    return f"{statistics.median(values):9.1f}" if values else f"{'-':>9}"


def cmd_summary(_api, args):
    d = args.dir
    lat, api, seen, after = {}, {}, {}, {}
    for line in open(os.path.join(d, "latency.tsv"), encoding="utf-8"):
        label, size, direction, _trial, ms, api_ms, watch_ms = line.rstrip("\n").split("\t")
        key = (label, int(size), direction)
        lat.setdefault(key, []).append(ms)
        api.setdefault(key, []).append(float(api_ms))
        if watch_ms != "-":
            seen.setdefault(key, []).append(float(watch_ms))
            if ms != "timeout":
                after.setdefault(key, []).append(float(ms) - float(watch_ms))
    print("readiness write -> route change at GoBGP (ms): n, min / p50 / p99 / max; p50 of the "
          "API write's round trip, of the write's arrival at a watcher, and of the rest "
          "(watcher -> GoBGP, per trial)")
    print(f"{'':<60} {'N':>5} {'direction':<9} {'n':>3}  "
          f"{'min':>6} {'p50':>6} {'p99':>6} {'max':>7}  {'API p50':>7} {'watch p50':>9} "
          f"{'rest p50':>9}")
    for (label, size, direction), ms in sorted(lat.items()):
        vals = [float(x) for x in ms if x != "timeout"]
        to = len(ms) - len(vals)
        if not vals:
            print(f"{label:<60} {size:>5} {direction:<9} {len(ms):>3}  all timed out")
            continue
        api_p50 = statistics.median(api[(label, size, direction)])
        print(f"{label:<60} {size:>5} {direction:<9} {len(ms):>3}  {min(vals):6.1f} "
              f"{statistics.median(vals):6.1f} {pct(vals, 0.99):6.1f} {max(vals):7.1f}  "
              f"{api_p50:7.1f} {watch_p50(seen.get((label, size, direction)))} "
              f"{watch_p50(after.get((label, size, direction)))}"
              + (f"  timeouts {to}" if to else ""))
    for name, title in (("resources.tsv", "idle CPU (CPU-s/min), RSS / anon / peak (MiB)"),
                        ("drain.tsv", "drain: label, change, prefixes, first ms, last ms"),
                        ("cold.tsv", "cold start: label, routes, first ms, last ms, peak RSS MiB")):
        path = os.path.join(d, name)
        if os.path.exists(path):
            print("\n" + title)
            for line in open(path, encoding="utf-8"):
                print("  " + "  ".join(line.rstrip("\n").split("\t")))


def trial_args(s):
    """What every latency measurement takes: the random pause before each write, how long to
    wait for the change at GoBGP, and where the rows go."""
    s.add_argument("--pause-min", type=float, default=0.5)
    s.add_argument("--pause-max", type=float, default=1.0)
    s.add_argument("--timeout", type=float, default=10)
    s.add_argument("--out", required=True)


def main():
    global NODE
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    ap.add_argument("--peer-ns")
    ap.add_argument("--node", default="node-a")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--impl", choices=["kat", "metallb"], required=True)
    s.add_argument("--drain-delay", default="30s")
    s.add_argument("--source-address", help="MetalLB: the speaker's end of its BGP session")
    s = sub.add_parser("pool-drain")
    s.add_argument("--mode", required=True)
    s.add_argument("--delay", required=True)
    s = sub.add_parser("services")
    s.add_argument("--impl", choices=["kat", "metallb"], required=True)
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--end", type=int, required=True)
    s.add_argument("--endpoints", type=int, default=1)
    s = sub.add_parser("endpoints")
    s.add_argument("--impl", choices=["kat", "metallb"], required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--endpoints", type=int, required=True)
    s = sub.add_parser("wait-routes")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("wait-lb")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--timeout", type=float, default=120)
    s = sub.add_parser("trials")
    s.add_argument("--source", choices=["pods", "slices"], required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--index", type=int, required=True)
    s.add_argument("--endpoints", type=int, default=1)
    s.add_argument("--trials", type=int, default=20)
    trial_args(s)
    s = sub.add_parser("paired")
    s.add_argument("--label-a", required=True)
    s.add_argument("--index-a", type=int, required=True)
    s.add_argument("--label-b", required=True)
    s.add_argument("--index-b", type=int, required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--trials", type=int, default=20)
    trial_args(s)
    s = sub.add_parser("drain")
    s.add_argument("--change", choices=["label", "cordon"], default="label")
    s.add_argument("--on", action="store_true")
    s.add_argument("--expect", choices=["withdraw", "announce"], required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--out", required=True)
    s = sub.add_parser("cold")
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--pidfile", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--hwm-pidfile", help="read the peak RSS of this PID instead")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("api-feed")
    s.add_argument("--fifo", required=True)
    s = sub.add_parser("floor")
    s.add_argument("--fifo", required=True)
    s.add_argument("--label", required=True)
    s.add_argument("--trials", type=int, default=20)
    s.add_argument("--preload", type=int, default=0, help="routes announced before the trials")
    s.add_argument("--drain-out", help="after the trials, withdraw the preloaded routes at once "
                   "and append the first and last withdrawal at the peer here (drain.tsv)")
    trial_args(s)
    s = sub.add_parser("resources")
    s.add_argument("--label", required=True)
    s.add_argument("--size", required=True)
    s.add_argument("--window", type=float, default=30)
    s.add_argument("--out", required=True)
    s.add_argument("procs", nargs="+", metavar="NAME=PID")
    s = sub.add_parser("summary")
    s.add_argument("--dir", required=True)
    args = ap.parse_args()
    NODE = args.node
    if args.cmd == "cold" and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    needs_api = args.cmd not in ("resources", "summary", "wait-routes", "cold", "api-feed",
                                 "floor")
    api = Api(args.kubeconfig) if needs_api else None
    {"setup": cmd_setup, "pool-drain": cmd_pool_drain, "services": cmd_services,
     "endpoints": cmd_endpoints, "wait-lb": cmd_wait_lb, "wait-routes": cmd_wait_routes, "trials": cmd_trials,
     "paired": cmd_paired,
     "drain": cmd_drain, "cold": cmd_cold, "api-feed": cmd_api_feed, "floor": cmd_floor, "resources": cmd_resources,
     "summary": cmd_summary}[args.cmd](api, args)


NODE = "node-a"
if __name__ == "__main__":
    main()
