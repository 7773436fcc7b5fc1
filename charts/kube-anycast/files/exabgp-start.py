"""Fill in this node's exabgp.conf, then exec ExaBGP (the sidecar's entry point).

The chart renders one exabgp.conf for all nodes. What differs per node is filled in here:
  ${ROUTER_ID}    ROUTER_ID if set, else the node's first IPv4 address, else (IPv6-only nodes)
                  the low 32 bits of its first IPv6 address
  ${NODE_IPV4}    the node's first IPv4 address (HOST_IPS from status.hostIPs)
  ${NODE_IPV6}    the node's first IPv6 address
  ${MD5_<n>}      base64 of KUBE_ANYCAST_MD5_<n> (a Secret), so any byte is safe in the config
A placeholder that cannot be filled stops the start with a message that says why.

  start.py                 render to EXABGP_CONFIG and exec `exabgp server EXABGP_CONFIG`
  start.py --render-only   render and print the path (tests, debugging)
"""

import base64
import ipaddress
import os
import string
import sys

TEMPLATE = os.environ.get("EXABGP_TEMPLATE", "/etc/kube-anycast/exabgp/exabgp.conf.in")
CONFIG = os.environ.get("EXABGP_CONFIG", "/run/exabgp/exabgp.conf")
# Linux refuses TCP MD5 keys longer than this (TCP_MD5SIG_MAXKEYLEN).
MD5_MAX_BYTES = 80


def fail(message):
    sys.stderr.write(f"exabgp-start: {message}\n")
    sys.exit(2)


def node_addresses():
    raw = os.environ.get("HOST_IPS") or os.environ.get("HOST_IP") or ""
    addresses = []
    for text in filter(None, (part.strip() for part in raw.split(","))):
        try:
            addresses.append(ipaddress.ip_address(text))
        except ValueError:
            fail(f"HOST_IPS holds {text!r}, which is not an IP address")
    v4 = next((a for a in addresses if a.version == 4), None)
    v6 = next((a for a in addresses if a.version == 6), None)
    return v4, v6


def router_id(v4, v6):
    literal = os.environ.get("ROUTER_ID", "").strip()
    if literal:
        try:
            return str(ipaddress.IPv4Address(literal))
        except ValueError:
            fail(f"ROUTER_ID {literal!r} is not a dotted-quad IPv4 address")
    if v4 is not None:
        return str(v4)
    if v6 is not None:
        # A BGP identifier is 32 bits; the interface-identifier end of the node's address is
        # the part that differs between nodes of one subnet.
        return str(ipaddress.IPv4Address(int(v6) & 0xFFFFFFFF))
    fail("no router id: set bgp.routerId, or HOST_IPS (status.hostIPs) must hold an address")


def md5_keys():
    keys = {}
    for name, value in os.environ.items():
        if not name.startswith("KUBE_ANYCAST_MD5_"):
            continue
        index = name.removeprefix("KUBE_ANYCAST_MD5_")
        raw = value.encode()
        if not raw or len(raw) > MD5_MAX_BYTES:
            fail(f"the MD5 password of neighbor {index} must be 1 to {MD5_MAX_BYTES} bytes")
        keys[f"MD5_{index}"] = base64.b64encode(raw).decode()
    return keys


def render():
    v4, v6 = node_addresses()
    values = {"ROUTER_ID": router_id(v4, v6), **md5_keys()}
    if v4 is not None:
        values["NODE_IPV4"] = str(v4)
    if v6 is not None:
        values["NODE_IPV6"] = str(v6)
    try:
        with open(TEMPLATE, encoding="utf-8") as f:
            template = string.Template(f.read())
    except OSError as e:
        fail(f"cannot read the template {TEMPLATE}: {e}")
    try:
        text = template.substitute(values)
    except KeyError as e:
        missing = e.args[0]
        why = {
            "NODE_IPV4": "a neighbor needs the node's IPv4 address, but status.hostIPs has none",
            "NODE_IPV6": "a neighbor needs the node's IPv6 address, but status.hostIPs has none",
        }.get(missing, "its Secret is not mounted as KUBE_ANYCAST_" + missing)
        fail(f"cannot fill ${{{missing}}}: {why}")
    except ValueError as e:
        fail(f"the template {TEMPLATE} is malformed: {e}")
    # The rendered file holds the MD5 keys: readable by this user only.
    fd = os.open(CONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return CONFIG


def main():
    path = render()
    if sys.argv[1:] == ["--render-only"]:
        print(path)
        return
    if sys.argv[1:]:
        fail(f"unknown arguments {sys.argv[1:]}; the only option is --render-only")
    exabgp = os.environ.get("EXABGP_BIN", "exabgp")
    sys.stdout.flush()
    os.execvp(exabgp, [exabgp, "server", path])


if __name__ == "__main__":
    main()
