"""Plots for docs/performance.md from the TSV files the benchmarks write (scripts/bench/all.sh).

    plot.py RESULTS_DIR OUT_DIR

Each plot is made only when its TSV exists, so a partial run still plots what it measured.
"""

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(results: Path, name: str):
    path = results / f"{name}.tsv"
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# k8s.sh labels the runs after every Service grew to several endpoints "..., N endpoints".
GROWN = re.compile(r"\d+ endpoints")


def k8s_rows(path: Path):
    """k8s.sh's headerless TSVs, as lists of fields."""
    if not path.exists():
        return []
    return [line.split("\t") for line in path.read_text().splitlines() if line]


def log_axes(ax, xlabel: str, ylabel: str, legend_size: int):
    """A logarithmic x axis over sizes, labels, a grid and the legend."""
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size)


def save(fig, out: Path, name: str):
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)
    plt.close(fig)
    print(f"wrote {out / name}.png")


def healthcheck(results: Path, out: Path):
    data = rows(results, "healthcheck")
    if not data:
        return
    labels = [r["checker"] for r in data]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 0.6 * len(labels) + 1.5))
    a.barh(labels, [float(r["own_cpu_ms_per_iteration"]) for r in data], color="tab:blue")
    a.set_xscale("log")
    a.set_xlabel("own CPU per check, ms (log)")
    a.invert_yaxis()
    b.barh(labels, [float(r["peak_rss_mib"]) for r in data], color="tab:orange")
    b.set_xlabel("peak RSS, MiB")
    b.set_yticks([])
    b.invert_yaxis()
    fig.suptitle("One checker: cost per check iteration")
    save(fig, out, "healthcheck")


def fleet(results: Path, out: Path):
    data = rows(results, "fleet")
    if not data:
        return
    series = defaultdict(list)
    for r in data:
        series[r["checker"]].append(
            (int(r["services"]), float(r["cpu_s_per_min"]), float(r["total_rss_mib"]))
        )
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name, points in series.items():
        points.sort()
        n = [p[0] for p in points]
        a.plot(n, [p[1] for p in points], marker="o", label=name)
        b.plot(n, [p[2] for p in points], marker="o", label=name)
    for ax, what in ((a, "CPU-seconds per minute"), (b, "total RSS, MiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("services checked every second")
        ax.set_ylabel(what)
        ax.grid(True, which="both", alpha=0.3)
    a.legend(fontsize=7)
    fig.suptitle("Health checking at fleet scale")
    save(fig, out, "fleet")


def routes(results: Path, out: Path):
    data = rows(results, "routes")
    if not data:
        return

    def ms(value):
        return float(value) if value.isdigit() else float("nan")

    n = [int(r["routes"]) for r in data]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for column, label in (
        ("exabgp_ms", "ExaBGP fed its own bulk commands"),
        ("agent_ms", "kube-anycast agent + relay (VIPs as addresses on lo)"),
        ("agent_localroute_ms", "kube-anycast agent + relay (VIPs as local routes)"),
        ("agent_novip_ms", "kube-anycast agent + relay (no VIPs)"),
    ):
        if column not in data[0]:
            continue  # results of a run before that variant existed
        ax.plot(n, [ms(r[column]) / 1000 for r in data], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("routes")
    ax.set_ylabel("cold start to all routes at GoBGP, s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, out, "routes")


def planning(results: Path, out: Path):
    data = rows(results, "plan")
    if not data:
        return
    n = [int(r["services"]) for r in data]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(n, [float(r["median_ms"]) for r in data], marker="o", label="median")
    ax.plot(n, [float(r["max_ms"]) for r in data], marker="o", label="max of 50")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("AnycastServices")
    ax.set_ylabel("plan + driver diff, ms")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    save(fig, out, "plan")


def change(results: Path, out: Path):
    """The agent's CPU per Kubernetes change, stacked by task (change_bench)."""
    data = rows(results, "change")
    if not data:
        return
    labels = [f"{int(r['services']):,}" for r in data]
    phases = (("source_ms", "source"), ("engine_ms", "engine"), ("driver_ms", "driver"),
              ("writer_ms", "status writer"), ("metrics_ms", "metrics"))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    bottom = [0.0] * len(data)
    for column, name in phases:
        values = [float(r.get(column) or 0) for r in data]  # older files: no driver column
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xlabel("AnycastServices (one Pod's readiness changes)")
    ax.set_ylabel("agent CPU per change, ms (median)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    save(fig, out, "change")


def detection(results: Path, out: Path):
    data = rows(results / "detect", "detect")
    if not data:
        return
    checkers = list(dict.fromkeys(r["checker"] for r in data))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, step, title in ((axes[0], "down", "failure -> withdrawn"), (axes[1], "up", "recovery -> announced")):
        values = [
            [float(r["above_dampening_ms"]) for r in data if r["checker"] == c and r["step"] == step]
            for c in checkers
        ]
        ax.boxplot(values, vert=False, showfliers=True)
        ax.set_yticks(range(1, len(checkers) + 1), checkers, fontsize=8)
        ax.set_xlabel("time above the configured dampening, ms")
        ax.set_title(title)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Detection to the BGP peer (HTTP check every 1 s, rise 3, fall 2)")
    save(fig, out, "detect")


def kubernetes(results: Path, out: Path):
    """k8s.sh writes headerless TSVs: latency (label, size, direction, trial, total ms, ...)
    and resources (label, size, process, CPU-s/min, RSS, anon, peak MiB)."""
    k8s = results / "k8s"
    latency, resources = k8s / "latency.tsv", k8s / "resources.tsv"
    if not latency.exists():
        return
    samples = defaultdict(list)
    for line in latency.read_text().splitlines():
        f = line.split("\t")
        numeric = len(f) >= 5 and f[4].replace(".", "", 1).isdigit()  # not "timeout"
        if numeric and not GROWN.search(f[0]) and not f[0].startswith("floor"):
            samples[(f[0], int(f[1]))].append(float(f[4]))
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label in sorted({k[0] for k in samples}):
        sizes = sorted(n for (l, n) in samples if l == label)
        medians = [sorted(samples[(label, n)])[len(samples[(label, n)]) // 2] for n in sizes]
        a.plot(sizes, medians, marker="o", label=label)
    log_axes(a, "Services on the node", "readiness write -> route change at gobgpd, median ms", 7)
    if resources.exists():
        rss = defaultdict(dict)
        for line in resources.read_text().splitlines():
            f = line.split("\t")
            if len(f) >= 5 and not GROWN.search(f[0]) and f[2] in ("agent", "speaker"):
                rss[f"{f[0]} ({f[2]})"][int(f[1])] = float(f[4])
        for label, by_size in sorted(rss.items()):
            sizes = sorted(by_size)
            b.plot(sizes, [by_size[n] for n in sizes], marker="o", label=label)
        log_axes(b, "Services on the node", "RSS at idle, MiB", 7)
    fig.suptitle("The Kubernetes path: kube-anycast's agent and MetalLB's speaker")
    save(fig, out, "k8s")


def paired(results: Path, out: Path):
    """k8s.sh --paired (all.sh writes it to k8s-paired): both speakers at once, trials
    alternating; readiness write -> route change at gobgpd, p50 and p99 per side and size."""
    samples = defaultdict(list)
    for f in k8s_rows(results / "k8s-paired" / "latency.tsv"):
        if len(f) >= 5 and f[4] != "timeout":
            samples[(f[0].removeprefix("paired: "), int(f[1]))].append(float(f[4]))
    if not samples:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for label in sorted({k[0] for k in samples}):
        sizes = sorted(n for (l, n) in samples if l == label)
        ordered = [sorted(samples[(label, n)]) for n in sizes]
        line = ax.plot(sizes, [v[len(v) // 2] for v in ordered], marker="o", label=f"{label} p50")
        ax.plot(sizes, [v[min(len(v) - 1, int(len(v) * 0.99))] for v in ordered], marker="o",
                linestyle="--", color=line[0].get_color(), label=f"{label} p99")
    log_axes(ax, "Services per speaker", "readiness write -> route change at gobgpd, ms", 7)
    ax.set_ylim(bottom=0)
    fig.suptitle("Both at once: trials alternating on one API server and one gobgpd")
    save(fig, out, "k8s-paired")


def scale(results: Path, out: Path):
    """k8s.sh --only kat over growing sizes (all.sh writes it to k8s-scale): per endpoint
    source, readiness write -> route change p50 and p99, and the agent's RSS and idle CPU; the
    run with every Service grown to several endpoints is drawn as separate points."""
    k8s = results / "k8s-scale"
    latency = k8s_rows(k8s / "latency.tsv")
    if not latency:
        return
    samples = defaultdict(list)
    for f in latency:
        if len(f) >= 5 and f[4] != "timeout":
            samples[(f[0], int(f[1]))].append(float(f[4]))
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
    for label in sorted({k[0] for k in samples}):
        sizes = sorted(n for (l, n) in samples if l == label)
        ordered = [sorted(samples[(label, n)]) for n in sizes]
        style = "s" if GROWN.search(label) else "o"
        line = a.plot(sizes, [v[len(v) // 2] for v in ordered], marker=style, label=f"{label} p50")
        a.plot(sizes, [v[min(len(v) - 1, int(len(v) * 0.99))] for v in ordered], marker=style,
               linestyle="--", color=line[0].get_color(), label=f"{label} p99")
    log_axes(a, "AnycastServices", "readiness write -> route change at gobgpd, ms", 6)
    rss, anon, cpu = defaultdict(dict), defaultdict(dict), defaultdict(dict)
    for f in k8s_rows(k8s / "resources.tsv"):
        if len(f) >= 6 and f[2] == "agent":
            cpu[f[0]][int(f[1])] = float(f[3])
            rss[f[0]][int(f[1])] = float(f[4])
            anon[f[0]][int(f[1])] = float(f[5])
    for label in sorted(rss):
        sizes = sorted(rss[label])
        style = "s" if GROWN.search(label) else "o"
        line = b.plot(sizes, [rss[label][n] for n in sizes], marker=style, label=f"{label} RSS")
        b.plot(sizes, [anon[label][n] for n in sizes], marker=style, linestyle="--",
               color=line[0].get_color(), label=f"{label} anonymous")
        c.plot(sizes, [cpu[label][n] for n in sizes], marker=style, label=label)
    log_axes(b, "AnycastServices", "agent memory at idle, MiB", 6)
    log_axes(c, "AnycastServices", "agent CPU at idle, CPU-s/min", 6)
    fig.suptitle("Scale: kube-anycast's agent from 10 to 5,000 AnycastServices")
    save(fig, out, "scale")


def main():
    results, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for plot in (planning, change, healthcheck, fleet, routes, detection, kubernetes, paired,
                 scale):
        plot(results, out)


if __name__ == "__main__":
    main()
