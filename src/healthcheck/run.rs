//! The healthcheck's loop: check, step the machine, run hooks, write lines, sleep; on SIGTERM or
//! SIGINT, withdraw everything and clean up. Exit statuses are ExaBGP's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};

use super::addresses::{Selection, ServiceIps, parse_ip_ifnames};
use super::announce::Announcer;
use super::api::{Api, ApiClosed};
use super::check::{Check, run_hooks};
use super::log::{Level, Logger};
use super::metrics::Metrics;
use super::options::Options;
use crate::health::{Machine, Observation, State, next_pause, should_emit};
use crate::probe::{HttpProbe, TcpProbe};

/// Why the healthcheck stopped with status 1.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// ExaBGP closed the pipe.
    #[error(transparent)]
    Api(#[from] ApiClosed),
    /// Discovery found nothing to announce.
    #[error("No IP found")]
    NoIp,
    /// Setting up addresses, privileges, probes or the metrics endpoint failed.
    #[error("{0}")]
    Setup(String),
    /// `--interval` or `--fast-interval` is negative or not finite.
    #[error("sleep length must be a finite non-negative number of seconds, not {0}")]
    Sleep(f64),
}

/// Runs the healthcheck to its end and returns the exit status.
pub async fn run(opts: Options, log: Logger) -> u8 {
    let mut hc = match Healthcheck::start(opts, log).await {
        Ok(hc) => hc,
        Err((log, e)) => {
            log.error(e.to_string());
            return 1;
        }
    };
    hc.main_loop().await
}

struct Healthcheck {
    opts: Options,
    log: Logger,
    check: Check,
    machine: Machine,
    announcer: Announcer,
    api: Api,
    ips: Option<ServiceIps>,
    metrics: Option<Metrics>,
}

enum Event {
    Pause(Option<Duration>),
    Failed(Fatal),
    Signal,
}

impl Healthcheck {
    async fn start(opts: Options, log: Logger) -> Result<Self, (Logger, Fatal)> {
        match Self::prepare(&opts, &log).await {
            Ok((check, announcer, ips, metrics)) => Ok(Healthcheck {
                machine: Machine::new(opts.rise, opts.fall),
                api: Api::new(opts.no_ack),
                opts,
                log,
                check,
                announcer,
                ips,
                metrics,
            }),
            Err(e) => Err((log, e)),
        }
    }

    async fn prepare(
        opts: &Options,
        log: &Logger,
    ) -> Result<(Check, Announcer, Option<ServiceIps>, Option<Metrics>), Fatal> {
        let setup = |e: &dyn std::fmt::Display| Fatal::Setup(e.to_string());
        let ifnames = parse_ip_ifnames(&opts.ip_ifname, &opts.ip).map_err(|e| setup(&e))?;
        if let Some(path) = &opts.pid {
            std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| {
                Fatal::Setup(format!("failed to write --pid {}: {e}", path.display()))
            })?;
        }
        let check = build_check(opts).map_err(|e| setup(&e))?;
        let manage_ips = !opts.no_ip_setup || opts.dynamic_ip_setup;
        let mut ips = if opts.ip.is_empty() || manage_ips {
            let selection = Selection {
                label: opts.label.clone(),
                exact: opts.label_exact_match,
            };
            Some(ServiceIps::new(selection, ifnames).map_err(|e| setup(&e))?)
        } else {
            None
        };
        let nets = match (&ips, opts.ip.is_empty()) {
            (Some(found), true) => found.discover(log).await.map_err(|e| setup(&e))?,
            _ => opts.ip.clone(),
        };
        if nets.is_empty() {
            return Err(Fatal::NoIp);
        }
        if let Some(ips) = ips.as_mut().filter(|_| !opts.no_ip_setup) {
            ips.setup(&nets, log).await.map_err(|e| setup(&e))?;
        }
        drop_privileges(opts, log).map_err(Fatal::Setup)?;
        let announcer = Announcer::new(opts, &nets).map_err(|e| setup(&e))?;
        let metrics = match opts.metrics_listen {
            Some(addr) => Some(serve_metrics(addr).await.map_err(|e| setup(&e))?),
            None => None,
        };
        Ok((check, announcer, ips.filter(|_| manage_ips), metrics))
    }

    async fn main_loop(&mut self) -> u8 {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            self.log.error("failed to install the signal handlers");
            return 1;
        };
        loop {
            let event = tokio::select! {
                r = self.iteration() => r.map_or_else(Event::Failed, Event::Pause),
                _ = term.recv() => Event::Signal,
                _ = int.recv() => Event::Signal,
            };
            let pause = match event {
                Event::Signal => return self.exit().await,
                Event::Failed(e) => {
                    self.log.error(format!("Uncaught exception: {e}"));
                    return 1;
                }
                Event::Pause(None) => {
                    self.log
                        .info("interval set to zero, exiting after the announcement");
                    return 0;
                }
                Event::Pause(Some(p)) => p,
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = term.recv() => return self.exit().await,
                _ = int.recv() => return self.exit().await,
            }
        }
    }

    async fn iteration(&mut self) -> Result<Option<Duration>, Fatal> {
        let disabled = self.opts.disable.as_ref().is_some_and(|p| p.exists());
        let ok = if disabled {
            true
        } else {
            self.timed_check().await
        };
        let step = self.machine.observe(Observation { disabled, ok });
        if step.changed() {
            self.log.debug(format!("Transition to {}", step.to));
            if let Some(m) = &self.metrics {
                m.transition(step.to);
            }
            let specific: &[String] = match step.to {
                State::Up => &self.opts.up_execute,
                State::Down => &self.opts.down_execute,
                State::Disabled => &self.opts.disabled_execute,
                _ => &[],
            };
            run_hooks(step.to, specific, &self.opts.execute, &self.log).await;
        }
        if should_emit(step, self.opts.debounce) {
            self.emit(step.to).await?;
        }
        let secs = |s: f64| Duration::try_from_secs_f64(s).map_err(|_| Fatal::Sleep(s));
        let interval = secs(self.opts.interval)?;
        Ok(next_pause(
            step.to,
            interval,
            secs(self.opts.fast_interval)?,
        ))
    }

    async fn timed_check(&mut self) -> bool {
        let timeout = u64::try_from(self.opts.timeout)
            .ok()
            .filter(|t| *t > 0)
            .map(Duration::from_secs);
        let started = Instant::now();
        let ok = self.check.run(timeout, &self.log).await;
        if let Some(m) = &self.metrics {
            m.check(started.elapsed().as_secs_f64(), ok);
        }
        ok
    }

    async fn emit(&mut self, state: State) -> Result<(), Fatal> {
        let dynamic = self.opts.dynamic_ip_setup;
        if dynamic && state == State::Up {
            self.log
                .info("service up, restoring loopback and ip-ifname ips");
            if let Some(ips) = &mut self.ips {
                ips.setup(&self.announcer.ips, &self.log)
                    .await
                    .map_err(|e| Fatal::Setup(e.to_string()))?;
            }
        }
        self.log
            .info(format!("send announces for {state} state to ExaBGP"));
        let debug = self.log.enabled(Level::Debug);
        for line in self.announcer.lines(state) {
            if debug {
                self.log.debug(format!("exabgp: {}", line.trim_end()));
            }
            self.api.send(&line).await?;
            if let Some(m) = &self.metrics {
                m.command(&line);
            }
        }
        if dynamic && matches!(state, State::Down | State::Disabled) {
            self.log.info("service down, deleting setup ips");
            if let Some(ips) = &mut self.ips {
                ips.remove_added(&self.log).await;
            }
        }
        Ok(())
    }

    /// EXIT: withdraw every IP (even never announced ones), wait for the ACKs, remove the
    /// addresses this process added, exit 0.
    async fn exit(&mut self) -> u8 {
        let step = self.machine.exit();
        if let Some(m) = &self.metrics {
            m.transition(step.to);
        }
        self.log.info(format!(
            "send announces for {} state to ExaBGP",
            State::Exit
        ));
        for line in self.announcer.lines(State::Exit) {
            self.log.debug(format!("exabgp: {}", line.trim_end()));
            if let Err(e) = self.api.send(&line).await {
                self.log.error(e.to_string());
                break;
            }
        }
        if let Some(ips) = &mut self.ips {
            self.log.info("exiting, deleting setup ips");
            ips.remove_added(&self.log).await;
        }
        0
    }
}

fn build_check(opts: &Options) -> Result<Check, crate::probe::ProbeConfigError> {
    Ok(match (&opts.command, &opts.http, &opts.tcp) {
        (Some(cmd), _, _) => Check::Command(cmd.clone()),
        (_, Some(url), _) => Check::Http(Box::new(HttpProbe::new(
            url,
            opts.http_status.parse()?,
            None,
        )?)),
        (_, _, Some(target)) => Check::Tcp(TcpProbe::new(target)?),
        _ => Check::Always,
    })
}

/// Group first, then user, by name only (as ExaBGP).
fn drop_privileges(opts: &Options, log: &Logger) -> Result<(), String> {
    use nix::unistd::{Group, User, setresgid, setresuid};
    if let Some(name) = &opts.group {
        let g = Group::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("getgrnam(): name not found: {name:?}"))?;
        log.debug(format!("Dropping privileges to group {name}/{}", g.gid));
        setresgid(g.gid, g.gid, g.gid).map_err(|e| format!("failed to set group {name}: {e}"))?;
    }
    if let Some(name) = &opts.user {
        let u = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("getpwnam(): name not found: {name:?}"))?;
        log.debug(format!("Dropping privileges to user {name}/{}", u.uid));
        setresuid(u.uid, u.uid, u.uid).map_err(|e| format!("failed to set user {name}: {e}"))?;
    }
    Ok(())
}

async fn serve_metrics(addr: std::net::SocketAddr) -> Result<Metrics, crate::admin::BindError> {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
    crate::admin::serve(
        addr,
        crate::admin::AdminState {
            registry: Arc::new(registry),
            ready,
        },
    )
    .await?;
    Ok(metrics)
}
