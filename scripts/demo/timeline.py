#!/usr/bin/env python3
"""Print what the BGP peer (gobgpd) sees, as a live timeline: one line per change of a prefix's
MED, communities or presence. Polls `routes.sh` (gobgp's RIB as JSON) every 0.2 s.

    timeline.py ROUTES_SH [RECORD_FILE]

RECORD_FILE, when given, receives one line per event: `<prefix> <med|withdrawn> <communities>`,
which the demo's --ci mode checks.
"""
import json
import subprocess
import sys
import time

GSHUT = "65535:0"


def rib(routes_sh):
    out = subprocess.run(["bash", routes_sh], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    state = {}
    for prefix, paths in json.loads(out.stdout or "{}").items():
        attrs = {a["type"]: a for a in paths[0]["attrs"]}
        med = attrs.get(4, {}).get("metric")
        comms = [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.get(8, {}).get("communities", [])]
        state[prefix] = (med, " ".join(comms))
    return state


def main():
    routes_sh = sys.argv[1]
    record = open(sys.argv[2], "a", buffering=1) if len(sys.argv) > 2 else None
    start = time.monotonic()
    seen = {}
    while True:
        now = rib(routes_sh)
        if now is not None:
            for prefix in sorted(set(seen) | set(now)):
                old, new = seen.get(prefix), now.get(prefix)
                if old == new:
                    continue
                t = time.monotonic() - start
                if new is None:
                    line, rec = f"withdrawn", f"{prefix} withdrawn -"
                else:
                    med, comms = new
                    note = "  (GRACEFUL_SHUTDOWN: peers prefer other nodes)" if GSHUT in comms else ""
                    line = f"MED {med:<5} communities [{comms}]{note}"
                    rec = f"{prefix} {med} {comms.replace(' ', ',') or '-'}"
                print(f"  peer  {t:6.1f}s  {prefix:<16} {line}", flush=True)
                if record:
                    record.write(rec + "\n")
            seen = now
        time.sleep(0.2)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
