//! Throwaway server processes on free ports, stopped when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A free TCP port on 127.0.0.1 (racy by nature: another process may take it before the
/// caller binds it; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a port on 127.0.0.1")
}

/// A `redis-server` on its own port, without persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts one on `port` and waits until it accepts connections; panics with how to get
    /// `redis-server` when that fails (for tests).
    pub fn start(port: u16) -> RedisServer {
        RedisServer::try_start(port).unwrap_or_else(|e| panic!("{e:#}; run ./scripts/test.sh"))
    }

    /// [`RedisServer::start`] on a free port, with errors as values (for the benchmarks).
    pub fn try_start_anywhere() -> anyhow::Result<RedisServer> {
        RedisServer::try_start(free_port())
    }

    pub fn try_start(port: u16) -> anyhow::Result<RedisServer> {
        let binary =
            std::env::var("GEO_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| {
                if err.kind() == std::io::ErrorKind::NotFound {
                    anyhow::anyhow!(
                        "{binary} not found: install it with `apt-get install -y redis-server` \
                         or set GEO_TEST_REDIS_SERVER"
                    )
                } else {
                    anyhow::Error::new(err).context(format!("starting {binary}"))
                }
            })?;
        let mut server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("{binary} exited at start ({status}); is port {port} taken?");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{binary} did not accept connections on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {signal} redis-server failed");
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One etcd process; killed on drop. Its data directory belongs to the caller, so a new
/// process can take over the same data (a restart).
pub struct EtcdServer {
    child: Child,
    log: PathBuf,
}

impl EtcdServer {
    /// Starts etcd on `dir/data`, logging to `dir/<name>.log`, and waits until it reports
    /// itself healthy; panics with its log when it does not (for tests).
    pub async fn start(dir: &Path, name: &str, client_port: u16, peer_port: u16) -> EtcdServer {
        let binary = std::env::var("GEO_TEST_ETCD").unwrap_or_else(|_| "etcd".into());
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(&binary);
        command
            .arg("--name=default")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("creating the etcd log"));
        // etcd also takes its flags from ETCD_* variables and refuses to start when one
        // duplicates a flag given here.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(name);
            }
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary} ({e}); run ./scripts/test.sh"));
        let mut server = EtcdServer { child, log };
        if let Err(error) = server.wait_healthy(&client).await {
            panic!("{error:#}:\n{}", server.log_text());
        }
        server
    }

    async fn wait_healthy(&mut self, client: &str) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = http.get(format!("{client}/health")).send().await;
            match answer {
                Ok(reply) if reply.status().is_success() => return Ok(()),
                answer => {
                    if let Some(status) = self.child.try_wait()? {
                        anyhow::bail!("etcd exited ({status})");
                    }
                    if Instant::now() > deadline {
                        return Err(anyhow::anyhow!("{answer:?}"))
                            .with_context(|| format!("etcd did not become healthy on {client}"));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
