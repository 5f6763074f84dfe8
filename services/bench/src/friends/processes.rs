//! The run's child processes: the server (`geostack serve` with `SERVICES=friends`), the
//! client processes, and the PostgreSQL database of a ring run.

use super::*;

/// The PostgreSQL database of a ring run, dropped (synchronously) when this is dropped.
pub(super) struct PgDatabase {
    pub(super) admin: PgConnectOptions,
    pub(super) name: String,
    pub(super) url: String,
}

impl PgDatabase {
    pub(super) async fn create(admin_url: &str) -> anyhow::Result<PgDatabase> {
        let admin: PgConnectOptions = admin_url.parse().context("parsing --database-url")?;
        let name = format!("bench_friends_{}", random_hex(4));
        crate::postgis::create_database(&admin, &name).await?;
        let url = testkit::postgres::database_url(admin_url, &name)?;
        Ok(PgDatabase { admin, name, url })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = std::mem::take(&mut self.name);
        // Drop may run inside the runtime: a thread with its own runtime does the async work.
        let dropped =
            std::thread::spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(crate::postgis::drop_database(&admin, &name)),
                    Err(err) => eprintln!("  could not drop database {name}: {err}"),
                }
            })
            .join();
        if dropped.is_err() {
            eprintln!("  dropping the benchmark database panicked");
        }
    }
}

/// The server under test, killed when dropped unless it was terminated.
pub(super) struct ServerProcess {
    pub(super) child: Child,
    pub(super) pid: u32,
    pub(super) port: u16,
    pub(super) log: PathBuf,
    pub(super) http: reqwest::Client,
}

impl ServerProcess {
    /// `<this executable> geostack serve` with a clean environment plus `env`, logging (JSON) to
    /// `log`; returns once `/readyz` answers 200.
    pub(super) async fn start(
        env: &[(&str, String)],
        log: PathBuf,
    ) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("locating this executable")?;
        let port = free_port();
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(exe);
        command.args([crate::SERVER_COMMAND, "serve"]).env_clear();
        for key in ["PATH", "HOME", "TMPDIR", "RUST_LOG"] {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        command
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("LOG_FORMAT", "json")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn().context("starting the server")?;
        let pid = child.id().context("the server has no pid")?;
        let mut server = ServerProcess {
            child,
            pid,
            port,
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(8).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub(super) async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the server exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(reply) = self.http.get(self.url("/readyz")).send().await
                && reply.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < within,
                "the server was not ready within {within:?}:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn metrics(&self) -> anyhow::Result<BTreeMap<String, f64>> {
        let text = self
            .http
            .get(self.url("/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(parse_metrics(&text))
    }

    /// SIGTERM (through `kill`, as this crate has no unsafe code), then the time until the
    /// process exits.
    pub(super) async fn terminate(
        &mut self,
        within: Duration,
    ) -> anyhow::Result<(Duration, String)> {
        let started = Instant::now();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(status.success(), "kill -TERM {} failed", self.pid);
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Ok((started.elapsed(), status?.to_string())),
            Err(_) => {
                let _ = self.child.kill().await;
                anyhow::bail!("the server did not exit within {within:?} of SIGTERM")
            }
        }
    }

    /// Warnings and errors in the server's log: counts and the first distinct messages.
    pub(super) fn log_summary(&self) -> LogSummary {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut summary = LogSummary::default();
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                // Not JSON (a panic message, say): keep it.
                if !line.trim().is_empty() && summary.samples.len() < 8 {
                    summary.samples.push(line.chars().take(200).collect());
                }
                continue;
            };
            let level = entry["level"].as_str().unwrap_or("");
            match level {
                "WARN" => summary.warnings += 1,
                "ERROR" => summary.errors += 1,
                _ => continue,
            }
            let message = format!(
                "{level} {}: {} {}",
                entry["target"].as_str().unwrap_or("?"),
                entry["fields"]["message"].as_str().unwrap_or(""),
                entry["fields"]["error"].as_str().unwrap_or("")
            );
            let message: String = message.trim().chars().take(200).collect();
            if summary.samples.len() < 8 && !summary.samples.contains(&message) {
                summary.samples.push(message);
            }
        }
        summary
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct LogSummary {
    pub(super) warnings: usize,
    pub(super) errors: usize,
    pub(super) samples: Vec<String>,
}

/// The client processes, killed when dropped; their stdout lines arrive on `lines`.
pub(super) struct ClientProcesses {
    pub(super) children: Vec<Child>,
    pub(super) stdins: Vec<ChildStdin>,
    pub(super) pids: Vec<u32>,
    pub(super) lines: mpsc::UnboundedReceiver<(usize, Value)>,
    /// Latest progress line of each process.
    pub(super) progress: Vec<Value>,
}

impl ClientProcesses {
    pub(super) fn spawn(plan: &Plan, port: u16, secret: &str) -> anyhow::Result<ClientProcesses> {
        let exe = std::env::current_exe().context("locating this executable")?;
        let (tx, lines) = mpsc::unbounded_channel();
        let mut children = Vec::new();
        let mut stdins = Vec::new();
        let mut pids = Vec::new();
        for (k, &(first, count)) in plan.shares.iter().enumerate() {
            let mut child = Command::new(&exe)
                .arg("friends-client")
                .args(["--port", &port.to_string()])
                .args(["--first", &first.to_string()])
                .args(["--count", &count.to_string()])
                .args(["--total", &plan.clients.to_string()])
                .args(["--area-km", &plan.area_km.to_string()])
                .args(["--seed", &plan.seed.to_string()])
                .args(["--interval-ms", &plan.interval_ms.to_string()])
                .args(["--concurrency", &plan.concurrency.to_string()])
                .env("JWT_SECRET", secret)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting a client process")?;
            pids.push(child.id().context("a client process has no pid")?);
            stdins.push(child.stdin.take().context("client stdin")?);
            let stdout = child.stdout.take().context("client stdout")?;
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    match serde_json::from_str::<Value>(&line) {
                        Ok(value) => {
                            let _ = tx.send((k, value));
                        }
                        Err(_) => eprintln!("  client {k}: {line}"),
                    }
                }
                let _ = tx.send((k, json!({"event": "eof"})));
            });
            children.push(child);
        }
        Ok(ClientProcesses {
            progress: vec![Value::Null; children.len()],
            children,
            stdins,
            pids,
            lines,
        })
    }

    pub(super) async fn send_all(&mut self, line: &str) -> anyhow::Result<()> {
        for (k, stdin) in self.stdins.iter_mut().enumerate() {
            stdin
                .write_all(format!("{line}\n").as_bytes())
                .await
                .with_context(|| format!("writing to client process {k}"))?;
            stdin.flush().await?;
        }
        Ok(())
    }

    /// One `event` line from every process, within `within`; progress lines are shown on
    /// stderr every few seconds.
    pub(super) async fn expect_all(
        &mut self,
        event: &str,
        within: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut got: Vec<Option<Value>> = vec![None; self.children.len()];
        let mut shown = Instant::now();
        while got.iter().any(Option::is_none) {
            let Ok(next) = tokio::time::timeout_at(deadline, self.lines.recv()).await else {
                anyhow::bail!("client processes did not report `{event}` within {within:?}");
            };
            let (k, value) = next.context("client process output closed")?;
            match value["event"].as_str().unwrap_or("") {
                e if e == event => got[k] = Some(value),
                "progress" => {
                    self.progress[k] = value;
                    if shown.elapsed() >= Duration::from_secs(5) {
                        shown = Instant::now();
                        let sum = |key: &str| -> u64 {
                            self.progress.iter().filter_map(|p| p[key].as_u64()).sum()
                        };
                        eprintln!("    {} connected, {} failed", sum("ready"), sum("failed"));
                    }
                }
                "error" => anyhow::bail!(
                    "client process {k}: {}",
                    value["message"].as_str().unwrap_or("?")
                ),
                "eof" => anyhow::bail!("client process {k} exited before reporting `{event}`"),
                _ => {}
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    pub(super) async fn wait_exit(&mut self, within: Duration) {
        for child in &mut self.children {
            if tokio::time::timeout(within, child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}
