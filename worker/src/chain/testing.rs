//! A scripted [`RpcSender`] for unit tests: every request is logged and answered by a closure
//! (the JSON-RPC `result`, or an error message).
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use solana_client::client_error::{ClientError, ClientErrorKind, Result as ClientResult};
use solana_client::rpc_request::RpcRequest;
use solana_client::rpc_sender::{RpcSender, RpcTransportStats};

type Respond =
    dyn Fn(RpcRequest, &serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync;

/// Every request seen: its method and parameters.
pub type Log = Arc<Mutex<Vec<(RpcRequest, serde_json::Value)>>>;

pub struct Scripted {
    respond: Box<Respond>,
    log: Log,
}

impl Scripted {
    pub fn new(
        respond: impl Fn(RpcRequest, &serde_json::Value) -> Result<serde_json::Value, String>
            + Send
            + Sync
            + 'static,
    ) -> (Scripted, Log) {
        let log: Log = Arc::default();
        (
            Scripted {
                respond: Box::new(respond),
                log: log.clone(),
            },
            log,
        )
    }
}

impl RpcSender for Scripted {
    fn send<'a, 'b>(
        &'a self,
        request: RpcRequest,
        params: serde_json::Value,
    ) -> Pin<Box<dyn Future<Output = ClientResult<serde_json::Value>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            self.log.lock().unwrap().push((request, params.clone()));
            (self.respond)(request, &params)
                .map_err(|e| ClientError::from(ClientErrorKind::Custom(e)))
        })
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        RpcTransportStats::default()
    }

    fn url(&self) -> String {
        "scripted".into()
    }
}

/// A `{context, value}` answer from `slot`.
pub fn at_slot(slot: u64, value: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"context": {"slot": slot}, "value": value})
}
