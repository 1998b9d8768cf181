//! The worker's RPC budget: every JSON-RPC request the daemon makes goes through one
//! [`BudgetSender`] (an [`RpcSender`] wrapped around the HTTP transport), which counts it by
//! method (`tessera_worker_rpc_requests_total{method}`) and paces it under
//! `[rpc] max_requests_per_minute` with a token bucket. Requests wait for a token instead of
//! failing, and the bucket serves them by priority: the worker's own transactions and their
//! confirmations first, account reads next, program-wide scans (re-syncs, crank scans) last.
//! The websocket shares the budget (`Chain::ws_request`, `Chain::ws_message`): each
//! subscription takes a token like a read, and each notification received spends one.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solana_client::client_error::Result as ClientResult;
use solana_client::rpc_request::RpcRequest;
use solana_client::rpc_sender::{RpcSender, RpcTransportStats};
use tokio::time::Instant;

use crate::metrics::Metrics;

/// Who waits for a request, highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Sending and confirming this node's transactions.
    Send,
    /// Reading accounts.
    Read,
    /// Program-wide scans: re-syncs and crank scans.
    Scan,
}

impl Priority {
    /// The priority of an RPC method.
    pub fn of(method: &str) -> Priority {
        match method {
            "sendTransaction"
            | "getSignatureStatuses"
            | "getLatestBlockhash"
            | "getBlockHeight"
            | "getRecentPrioritizationFees" => Priority::Send,
            "getProgramAccounts" => Priority::Scan,
            _ => Priority::Read,
        }
    }

    /// Tokens that must stay in the bucket after this request: lower priorities leave a
    /// reserve that only higher ones may spend.
    fn reserve(self, burst: f64) -> f64 {
        match self {
            Priority::Send => 0.0,
            Priority::Read => burst * 0.1,
            Priority::Scan => burst * 0.25,
        }
    }
}

/// A token bucket of `per_minute` tokens a minute, holding at most a tenth of a minute's
/// worth (a burst); `per_minute == 0` does not limit.
pub struct Bucket {
    per_sec: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn new(per_minute: u32) -> Bucket {
        let per_sec = f64::from(per_minute) / 60.0;
        let burst = (f64::from(per_minute) / 10.0).max(1.0);
        Bucket {
            per_sec,
            burst,
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// How long a request of `priority` must wait before it may go (`None`: it took its token
    /// now).
    fn try_take(&self, priority: Priority) -> Option<Duration> {
        if self.per_sec <= 0.0 {
            return None;
        }
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.per_sec).min(self.burst);
        s.1 = now;
        let need = 1.0 + priority.reserve(self.burst);
        if s.0 >= need {
            s.0 -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((need - s.0) / self.per_sec))
        }
    }

    /// Spends a token without waiting, for something that has already happened (a websocket
    /// notification): the bucket may go into debt, down to one burst, and the requests after
    /// it wait until it is paid back.
    pub fn charge(&self) {
        if self.per_sec <= 0.0 {
            return;
        }
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        s.0 = (s.0 + now.duration_since(s.1).as_secs_f64() * self.per_sec).min(self.burst);
        s.1 = now;
        s.0 = (s.0 - 1.0).max(-self.burst);
    }

    /// Waits for a token (returns how long it waited).
    pub async fn take(&self, priority: Priority) -> Duration {
        let start = Instant::now();
        while let Some(wait) = self.try_take(priority) {
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
        start.elapsed()
    }
}

/// An [`RpcSender`] that counts and paces every request of the wrapped transport.
pub struct BudgetSender<S> {
    inner: S,
    bucket: Arc<Bucket>,
    metrics: Arc<Metrics>,
}

impl<S> BudgetSender<S> {
    pub fn new(inner: S, bucket: Arc<Bucket>, metrics: Arc<Metrics>) -> Self {
        BudgetSender {
            inner,
            bucket,
            metrics,
        }
    }
}

impl<S: RpcSender + Send + Sync> RpcSender for BudgetSender<S> {
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
            let method = request.as_str();
            let waited = self.bucket.take(Priority::of(method)).await;
            if !waited.is_zero() {
                self.metrics.rpc_budget_wait.inc_by(waited.as_secs_f64());
            }
            self.metrics.rpc_requests.with_label_values(&[method]).inc();
            self.inner.send(request, params).await
        })
    }

    fn get_transport_stats(&self) -> RpcTransportStats {
        self.inner.get_transport_stats()
    }

    fn url(&self) -> String {
        self.inner.url()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_paces_to_the_budget_and_serves_sends_first() {
        // 600 a minute: 10 a second, a burst of 60
        let b = Bucket::new(600);
        let start = Instant::now();
        for _ in 0..60 {
            assert_eq!(b.try_take(Priority::Send), None);
        }
        // empty: the next send waits a tenth of a second
        let w = b.try_take(Priority::Send).unwrap();
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        // 120 more requests take about 12 s of budget
        for _ in 0..120 {
            b.take(Priority::Send).await;
        }
        let took = start.elapsed().as_secs_f64();
        assert!((11.9..12.2).contains(&took), "{took}");
        // with tokens for a send but under the scans' reserve, a scan waits and a send goes
        tokio::time::sleep(Duration::from_secs(1)).await; // 10 tokens back, reserve is 15
        assert!(b.try_take(Priority::Scan).is_some());
        assert!(b.try_take(Priority::Read).is_none()); // the read reserve is 6
        assert!(b.try_take(Priority::Send).is_none());
        // no budget: never waits
        let free = Bucket::new(0);
        for _ in 0..10_000 {
            assert_eq!(free.try_take(Priority::Scan), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn notifications_spend_the_budget_and_later_requests_wait() {
        // 60 a minute: 1 a second, a burst of 6
        let b = Bucket::new(60);
        for _ in 0..4 {
            b.charge();
        }
        // 2 tokens left: two sends go, then the bucket is empty
        assert_eq!(b.try_take(Priority::Send), None);
        assert_eq!(b.try_take(Priority::Send), None);
        let w = b.try_take(Priority::Send).unwrap();
        assert!((w.as_secs_f64() - 1.0).abs() < 1e-6, "{w:?}");
        // a flood of notifications leaves a debt of at most one burst
        for _ in 0..100 {
            b.charge();
        }
        let w = b.try_take(Priority::Send).unwrap();
        assert!((w.as_secs_f64() - 7.0).abs() < 1e-6, "{w:?}");
        // no budget: charging changes nothing
        let free = Bucket::new(0);
        free.charge();
        assert_eq!(free.try_take(Priority::Scan), None);
    }

    #[test]
    fn methods_have_priorities() {
        assert_eq!(Priority::of("sendTransaction"), Priority::Send);
        assert_eq!(Priority::of("getSignatureStatuses"), Priority::Send);
        assert_eq!(Priority::of("getMultipleAccounts"), Priority::Read);
        assert_eq!(Priority::of("getProgramAccounts"), Priority::Scan);
    }
}
