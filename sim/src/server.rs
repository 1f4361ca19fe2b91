//! Serving plumbing shared by the simulators: loopback HTTP/WebSocket servers
//! that stop gracefully, broadcasts to whoever is connected, and closing a
//! socket whose peer may already be gone.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::Message;
use futures::{Sink, SinkExt};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

/// Servers started by one simulator; [`Servers::stop`] ends them all.
#[derive(Default)]
pub struct Servers {
    stops: Vec<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Servers {
    /// Serve `app` on 127.0.0.1:`port` (0 picks a free port) until [`Servers::stop`].
    pub async fn serve(&mut self, name: &'static str, port: u16, app: axum::Router) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        self.stops.push(tx);
        self.servers.push(tokio::spawn(async move {
            // A dropped sender stops the server just as a sent signal does.
            let stopped = async move { rx.await.unwrap_or(()) };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                tracing::error!(server = name, error = %e, "simulator server stopped");
            }
        }));
        Ok(addr)
    }

    /// Run a background task (housekeeping, a scenario) that is cancelled when the servers stop.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.background.push(tokio::spawn(task));
    }

    /// Signal every server to stop and wait (at most `grace` each) for them to finish.
    /// Open WebSockets must be told to close first, or graceful shutdown waits for them.
    pub async fn stop(self, grace: Duration) {
        // Dropping the senders is the stop signal.
        drop(self.stops);
        for t in &self.background {
            t.abort();
        }
        for t in self.servers {
            match tokio::time::timeout(grace, t).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_cancelled() => {}
                Ok(Err(e)) => tracing::error!(error = %e, "simulator task failed"),
                Err(_) => tracing::warn!(?grace, "simulator task did not stop in time"),
            }
        }
    }
}

/// A response that never arrives whole: the status line goes out, then the
/// connection breaks mid-body. The client sees a transport error, as when a
/// venue's answer is lost on the way.
pub fn lost_response() -> axum::response::Response {
    let broken =
        futures::stream::once(async { Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other("lost")) });
    axum::response::Response::new(axum::body::Body::from_stream(broken))
}

/// Take one from a fault counter; whether there was one.
pub fn take(counter: &mut u32) -> bool {
    if *counter == 0 {
        return false;
    }
    *counter -= 1;
    true
}

/// Send to every connected subscriber; with nobody connected there is nothing to deliver.
pub fn broadcast<T>(tx: &broadcast::Sender<T>, value: T) {
    let _receivers = tx.send(value).unwrap_or(0);
}

/// Say goodbye with a close frame. The peer may be gone already, which is
/// what closing was for, so a failed send needs no handling.
pub async fn close<S>(socket: &mut S)
where
    S: Sink<Message> + Unpin,
{
    if socket.send(Message::Close(None)).await.is_err() {
        tracing::trace!("peer gone before the close frame");
    }
}
