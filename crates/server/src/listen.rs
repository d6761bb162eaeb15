//! Accepting connections, within bounds: how many are open at once, how
//! long a client may take to send a request's headers, and how long a
//! connection may sit idle. `axum::serve` sets none of these, and a
//! control plane must not be held open by clients that trickle bytes.
//!
//! - At most [`Listen::max_connections`] connections; one more is answered
//!   `503` with the error envelope and closed.
//! - HTTP/1: a request's headers must arrive within
//!   [`Listen::header_timeout`] of the connection waiting for them —
//!   which also closes a keep-alive connection idle that long.
//! - HTTP/2: idle connections are pinged and closed when the pings go
//!   unanswered; at most 128 streams each.
//!
//! Long-lived answers (event streams, long-polls) are bounded per principal
//! and in all by [`crate::admission`].

use std::{sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{io::AsyncWriteExt, net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

/// Connection limits.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and so how
    /// long an HTTP/1 connection may sit idle between requests).
    pub header_timeout: Duration,
    /// How long a shutdown waits for requests in flight. Event streams
    /// never end by themselves, so the wait must be bounded.
    pub shutdown_grace: Duration,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The body of the answer to a connection beyond the limit.
const OVER_CAPACITY: &str =
    r#"{"error":{"code":"unavailable","message":"too many connections; retry in a moment"}}"#;

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// requests finish (for at most [`Listen::shutdown_grace`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Listen,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout)
        .max_concurrent_streams(128);
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, or a connection reset before it was
                // accepted: the next accept may well work.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let service = TowerToHyperService::new(
            router
                .clone()
                .map_request(|request: Request<hyper::body::Incoming>| request.map(Body::new)),
        );
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended");
            }
            drop(permit);
        });
    }
    // Requests in flight may finish; event streams never do, so the wait
    // is bounded.
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("closing the connections still open (event streams, long-polls)");
    }
    Ok(())
}

/// Tells a client over the limit to come back, and closes.
async fn refuse(mut stream: tokio::net::TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{OVER_CAPACITY}",
            OVER_CAPACITY.len()
        );
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
