//! A short-lived cache of tokens by id, so that machines polling snapshots
//! do not cost a database read per request. A revocation takes effect on
//! every replica as its change arrives ([`TokenCache::forget_revoked`]);
//! [`TTL`] bounds the rest (a token changed by `setpoint token` offline).

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock, Weak},
    time::{Duration, Instant},
};

use setpoint_core::ChangeKind;
use tokio::sync::broadcast;

use crate::{engine::Published, store::Token};

/// How long a cached token is trusted without asking the store again.
pub const TTL: Duration = Duration::from_secs(5);

/// Tokens by id, with when they were read. Every machine request reads it,
/// so readers share the lock and take an `Arc`.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: RwLock<HashMap<String, (Arc<Token>, Instant)>>,
}

impl TokenCache {
    /// A token read less than [`TTL`] ago.
    pub fn get(&self, id: &str) -> Option<Arc<Token>> {
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        tokens
            .get(id)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(token, _)| Arc::clone(token))
    }

    /// Remembers a token just read from the store.
    pub fn put(&self, token: Arc<Token>) {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        // Unknown ids are never cached, so the map holds real tokens only;
        // expired entries go when it grows.
        if tokens.len() > 10_000 {
            tokens.retain(|_, (_, at)| at.elapsed() < TTL);
        }
        tokens.insert(token.id.clone(), (token, Instant::now()));
    }

    /// Forgets a revoked token.
    pub fn remove(&self, id: &str) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Forgets every token, for when revocations may have been missed.
    pub fn clear(&self) {
        self.tokens
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Forgets each token the change log says was revoked — here or, on a
    /// shared store, by another replica — as its change arrives: a revoked
    /// token stops working on every replica as soon as they follow the
    /// commit, not after [`TTL`]. Ends with the cache or the stream.
    pub async fn forget_revoked(
        cache: Weak<Self>,
        mut changes: broadcast::Receiver<Arc<Published>>,
    ) {
        loop {
            let revoked = match changes.recv().await {
                Ok(published) => {
                    let change = &published.change;
                    if change.kind != ChangeKind::TokenRevoked {
                        continue;
                    }
                    change
                        .before
                        .as_ref()
                        .and_then(|before| before["id"].as_str())
                        .map(str::to_owned)
                }
                // Some changes were missed: any of them may be a revocation.
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Some(cache) = cache.upgrade() else {
                return;
            };
            match revoked {
                Some(id) => cache.remove(&id),
                None => cache.clear(),
            }
        }
    }
}
