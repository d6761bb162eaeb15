//! A short-lived cache of tokens by id, so that machines polling snapshots
//! do not cost a database read per request. Revocation through the API
//! takes effect at once on this server; a token revoked elsewhere (another
//! process on the store) stops working within [`TTL`].

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use crate::store::Token;

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
}
