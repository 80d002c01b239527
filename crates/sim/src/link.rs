//! A till's link to its server: a TCP proxy that the schedule turns faulty (cut, lost
//! answers, slow, nudges dropped). Real sockets on both sides, so the till and the server
//! see exactly what a bad network does to them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::schedule::Fault;

/// The first bytes of a request for the nudge stream.
const NUDGE_REQUEST: &[u8] = b"GET /v1/sync/events";

/// How long a link waits for the server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A proxy in front of one server process, for one till.
pub struct Link {
    /// `http://127.0.0.1:PORT`, what the till is enrolled with.
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    upstream: String,
    fault: Mutex<Fault>,
    /// Bumped to sever every open connection.
    generation: tokio::sync::watch::Sender<u64>,
    /// Answers thrown away while losing answers.
    lost_answers: AtomicU64,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// A link on a random loopback port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let shared = Arc::new(Shared { upstream, fault: Mutex::new(Fault::Up), generation, lost_answers: AtomicU64::new(0) });
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else { continue };
                    if shared.fault() == Fault::Cut {
                        drop(client);
                        continue;
                    }
                    tokio::spawn(relay(shared.clone(), client));
                }
            })
        };
        Ok(Link { base, shared, task })
    }

    /// Sets the link's fault; any fault but `Up` severs the open connections, so a
    /// change is felt at once (a long-lived nudge stream included).
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        if fault != Fault::Up {
            self.shared.generation.send_modify(|g| *g += 1);
        }
    }

    /// The current fault.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Answers lost so far.
    pub fn lost_answers(&self) -> u64 {
        self.shared.lost_answers.load(Ordering::Relaxed)
    }
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn delay(&self) -> Option<Duration> {
        match self.fault() {
            Fault::Slow(ms) => Some(Duration::from_millis(ms)),
            _ => None,
        }
    }
}

async fn relay(shared: Arc<Shared>, mut client: TcpStream) {
    let mut cut = shared.generation.subscribe();
    let start_generation = *cut.borrow();
    // The first chunk says whether this is the nudge stream.
    let mut first = vec![0u8; 16 * 1024];
    let n = match tokio::time::timeout(CONNECT_TIMEOUT, client.read(&mut first)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return,
    };
    if shared.fault() == Fault::DropNudges && first[..n].starts_with(NUDGE_REQUEST) {
        return;
    }
    let Ok(Ok(server)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&shared.upstream)).await else { return };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        if sw.write_all(&first[..n]).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if let Some(d) = shared.delay() {
                tokio::time::sleep(d).await;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            match shared.fault() {
                Fault::LoseAnswers => {
                    shared.lost_answers.fetch_add(1, Ordering::Relaxed);
                    return; // the server did the work; the till never hears
                }
                Fault::Cut => return,
                Fault::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Fault::Up | Fault::DropNudges => {}
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = async { while cut.changed().await.is_ok() { if *cut.borrow() != start_generation { return; } } } => {}
    }
}
