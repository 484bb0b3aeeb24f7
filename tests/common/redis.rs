//! A real `redis-server` for tests: a child process on a free loopback port, with no
//! persistence, killed when dropped, restartable on the same port.
//! Include it with `#[path = "common/redis.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

/// A `redis-server` child process on a loopback port; killed when dropped.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        RedisServer::start_with(&[]).await
    }

    /// Starts a server with extra arguments (e.g. `--requirepass x`), answering PING.
    pub async fn start_with(args: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            port: free_port().await,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and waits until it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install -y redis-server)");
        self.child = Some(child);
        let port = self.port;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(port).await {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has exited already; either way it is gone, and reaped.
            let _ = child.kill();
            // Reaps it; nothing to learn from how it ended.
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True when something on `port` answers a RESP PING (`+PONG`, or `-NOAUTH` when protected).
async fn answers_ping(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(Ok(mut s)) = timeout(
        Duration::from_millis(500),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    else {
        return false;
    };
    if s.write_all(b"PING\r\n").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(
        timeout(Duration::from_millis(500), s.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0 && (buf[0] == b'+' || buf[0] == b'-')
    )
}

pub async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").port()
}
