//! The simulated outage switch (`modula terminal run --outage-switch`, for demos).
//!
//! When the switch is enabled, the terminal talks to its server only through this
//! in-process TCP proxy: it listens on `127.0.0.1:0` and forwards every connection to the
//! server's host and port. Cutting it refuses new connections and severs the open ones
//! (the SSE stream, a push in flight), so a simulated outage is a real one for the sync
//! engine: requests fail with transport errors, ops stay `PENDING`, the status goes
//! offline. Restoring it lets connections through again and the engine catches up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy between the terminal and its server.
#[derive(Debug)]
pub struct Outage {
    /// What the terminal's HTTP client uses as the server's base URL.
    base: String,
    /// `host:port` of the real server.
    upstream: String,
    cut: AtomicBool,
    /// Bumped on every cut; open connections end when it changes.
    generation: watch::Sender<u64>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(t) = t.take() {
                t.abort();
            }
        }
    }
}

/// Splits `http://host[:port][/path]` into `(scheme, host:port, /path)`.
pub fn split_url(url: &str) -> anyhow::Result<(&'static str, String, String)> {
    let (scheme, rest, default_port) = if let Some(r) = url.strip_prefix("http://") {
        ("http", r, 80)
    } else if let Some(r) = url.strip_prefix("https://") {
        ("https", r, 443)
    } else {
        anyhow::bail!("server URL {url:?} must start with http:// or https://");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/').to_string()),
        None => (rest, String::new()),
    };
    if authority.is_empty() {
        anyhow::bail!("server URL {url:?} has no host");
    }
    // A port is the digits after the last ':' outside an IPv6 literal's brackets.
    let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']'))
    });
    let upstream = if has_port { authority.to_string() } else { format!("{authority}:{default_port}") };
    Ok((scheme, upstream, path))
}

impl Outage {
    /// Starts the proxy in front of `server_url`; the link is up.
    pub async fn start(server_url: &str) -> anyhow::Result<Arc<Outage>> {
        let (scheme, upstream, path) = split_url(server_url)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("{scheme}://{}{path}", listener.local_addr()?);
        let (generation, _) = watch::channel(0u64);
        let outage = Arc::new(Outage {
            base,
            upstream,
            cut: AtomicBool::new(false),
            generation,
            task: std::sync::Mutex::new(None),
        });
        let weak = Arc::downgrade(&outage);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    // e.g. out of file descriptors: wait instead of spinning.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let Some(o) = weak.upgrade() else { return };
                if o.is_cut() {
                    drop(client); // refused: the client sees the connection closed at once
                    continue;
                }
                let upstream = o.upstream.clone();
                let cut = o.generation.subscribe();
                drop(o);
                tokio::spawn(forward(client, upstream, cut));
            }
        });
        if let Ok(mut t) = outage.task.lock() {
            *t = Some(task);
        }
        tracing::info!(proxy = %outage.base, upstream = %outage.upstream, "outage switch enabled: server traffic goes through the in-process proxy");
        Ok(outage)
    }

    /// The base URL the terminal's client uses instead of the server's.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Is the link cut right now?
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Cuts (`true`) or restores (`false`) the link. Cutting severs open connections.
    pub fn set_cut(&self, cut: bool) {
        let was = self.cut.swap(cut, Ordering::SeqCst);
        if cut {
            self.generation.send_modify(|g| *g += 1);
        }
        if was != cut {
            tracing::warn!(cut, "simulated outage {}", if cut { "started: link to the server cut" } else { "ended: link restored" });
        }
    }
}

/// Copies bytes both ways until either side closes or the link is cut.
async fn forward(mut client: TcpStream, upstream: String, mut cut: watch::Receiver<u64>) {
    let start = *cut.borrow_and_update();
    let mut server = match TcpStream::connect(&upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(error = %e, "outage proxy: cannot reach the server");
            let _ = client.shutdown().await;
            return;
        }
    };
    let severed = async {
        while cut.changed().await.is_ok() {
            if *cut.borrow() != start {
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = severed => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_server_urls() {
        assert_eq!(split_url("http://127.0.0.1:8080").unwrap(), ("http", "127.0.0.1:8080".into(), "".into()));
        assert_eq!(split_url("http://example.com/").unwrap(), ("http", "example.com:80".into(), "".into()));
        assert_eq!(split_url("https://pos.example.com/base/").unwrap(), ("https", "pos.example.com:443".into(), "/base".into()));
        assert_eq!(split_url("http://[::1]:9000").unwrap(), ("http", "[::1]:9000".into(), "".into()));
        assert_eq!(split_url("http://[::1]").unwrap(), ("http", "[::1]:80".into(), "".into()));
        assert!(split_url("ftp://x").is_err());
        assert!(split_url("http://").is_err());
    }

    #[tokio::test]
    async fn cut_refuses_and_severs() {
        use tokio::io::AsyncReadExt;
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = echo.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let o = Outage::start(&format!("http://{echo_addr}")).await.unwrap();
        let addr = o.base().trim_start_matches("http://").to_string();
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        o.set_cut(true);
        // The open connection is severed…
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), c.read(&mut buf)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        // …and a new one is closed without reaching the server.
        let mut c2 = TcpStream::connect(&addr).await.unwrap();
        let _ = c2.write_all(b"x").await;
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), c2.read(&mut buf)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        o.set_cut(false);
        let mut c3 = TcpStream::connect(&addr).await.unwrap();
        c3.write_all(b"ok").await.unwrap();
        c3.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    }
}
