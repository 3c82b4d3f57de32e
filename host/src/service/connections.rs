//! The connection loop: accepts TCP connections and serves HTTP/1.1 on
//! each, so that no client can hold the server.
//!
//! - A client has [`Limits::header_timeout`] to send a complete request
//!   head, counted from the moment the connection opens or the previous
//!   response went out: a slow (slowloris) client, a silent connection and
//!   an idle keep-alive connection are all closed after it.
//! - The request body's deadline and size limit are the handlers' (see
//!   `body::read`): 408 and 413.
//! - At most [`Limits::max_connections`] connections are served at once;
//!   further ones wait in the listen backlog until one closes.
//! - On shutdown the listener closes, idle connections close at once, and
//!   requests in flight finish (the caller bounds how long it waits).

use super::Limits;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Serve `app` on `listener` until `shutdown` resolves, then wait for the
/// connections to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // `stop` tells connections to finish; each holds a `done` sender, so
    // `finished` yields `None` once every connection has ended.
    let (stop, stopping) = watch::channel(false);
    let (done, mut finished) = mpsc::channel::<()>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, say: wait for some to close.
                tracing::error!("cannot accept a connection: {e}");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        tokio::spawn(connection(
            stream,
            app.clone(),
            http.clone(),
            stopping.clone(),
            done.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(done);
    let _ = finished.recv().await;
    Ok(())
}

/// Serve one connection until it closes, or until `stopping` (then the
/// request in flight, if any, finishes first).
async fn connection(
    stream: TcpStream,
    app: Router,
    http: Arc<http1::Builder>,
    mut stopping: watch::Receiver<bool>,
    _done: mpsc::Sender<()>,
    _slot: OwnedSemaphorePermit,
) {
    // Small answers go out at once rather than waiting on Nagle.
    let _ = stream.set_nodelay(true);
    let served = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut served = std::pin::pin!(served);
    let stop = async move {
        // A dropped sender counts as a stop too.
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let outcome = tokio::select! {
        outcome = served.as_mut() => outcome,
        () = stop => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = outcome {
        // Timeouts, resets and malformed requests: the client's problem.
        tracing::debug!("connection closed: {e}");
    }
}

/// Errors of one connection that do not concern the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
