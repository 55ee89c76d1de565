//! A TCP proxy the test can cut: between a daemon and its PostgreSQL server, it stands for
//! a network cut. `cut` closes every connection (a reset, as a dead link or a restarted
//! server gives) and refuses new ones until `restore`.
#![allow(dead_code, reason = "each test module uses a part of it")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    addr: SocketAddr,
    /// Cancelled by a cut: every connection made before it ends; `None` while cut.
    open: Arc<Mutex<Option<CancellationToken>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listens on 127.0.0.1 and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let state = open.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let token = state.lock().unwrap().clone();
                match token {
                    Some(token) => {
                        tokio::spawn(forward(client, upstream, token));
                    }
                    None => refuse(client),
                }
            }
        });
        Proxy { addr, open, accept }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        if let Some(token) = self.open.lock().unwrap().take() {
            token.cancel();
        }
    }

    /// Accepts and forwards connections again.
    pub fn restore(&self) {
        self.open
            .lock()
            .unwrap()
            .get_or_insert_with(CancellationToken::new);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Closes a connection with a reset (linger 0), as a refused or broken link does.
fn refuse(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, cut: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        refuse(client);
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        () = cut.cancelled() => {
            refuse(client);
            refuse(server);
        }
    }
}
