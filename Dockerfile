# syntax=docker/dockerfile:1
# Two images from one build:
#   docker build --target agent  -t kube-anycast .   the agent: one static binary, no shell
#   docker build --target exabgp -t exabgp .         ExaBGP 5.0.15 plus kube-anycast for its
#                                                    `exabgp-relay` and `healthcheck`
# Base images are pinned to exact versions (a test checks it). The Rust version matches
# rust-toolchain.toml.

FROM rust:1.95.0-slim-bookworm AS build
# musl-gcc compiles ring's C and assembly for the static target.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-1 \
    && rm -rf /var/lib/apt/lists/*
# The build platform's own architecture: buildx builds each platform natively (or emulated),
# so no cross linker is needed.
RUN rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
# Without rust-toolchain.toml: the image's 1.95.0 is the pin, and rustup downloads nothing.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --locked --release --bin kube-anycast --target "$(uname -m)-unknown-linux-musl" \
    && install -D -m 0755 "target/$(uname -m)-unknown-linux-musl/release/kube-anycast" \
       /out/usr/local/bin/kube-anycast

# The agent. The chart runs it as root with only CAP_NET_ADMIN, no privilege escalation and
# a read-only root: a non-root user would need a file capability on the binary, which the
# kernel ignores under no_new_privs (allowPrivilegeEscalation: false), so it would need
# privilege escalation allowed instead. The image default stays non-root for the subcommands
# that need no capability (healthcheck, crd).
FROM scratch AS agent
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kube-anycast"]
CMD ["agent"]

# ExaBGP with the relay. The chart starts it through its start script (exabgp.conf filled
# in per node); standalone, it runs `exabgp server /etc/exabgp/exabgp.conf`.
FROM python:3.12.11-slim-bookworm AS exabgp
COPY docker/exabgp-requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY --from=build /out/ /
ENV exabgp_daemon_daemonize=false \
    exabgp_log_destination=stdout \
    exabgp_api_cli=false \
    exabgp_api_ack=true \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
ENTRYPOINT ["exabgp"]
CMD ["server", "/etc/exabgp/exabgp.conf"]
