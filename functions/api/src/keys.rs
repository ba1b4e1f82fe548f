//! API keys: create (shown once) and revoke.

use credits_store::StoreError;

use crate::AppState;
use crate::auth;
use crate::model::{KeyRequest, KeyResponse, RevokedKeyResponse};
use crate::problem::Problem;
use crate::service::load_account;
use crate::validate::{self, display_id};

/// Attempts at a fresh random key id (a collision of 64 random bits is not expected).
const MAX_KEY_ID_ATTEMPTS: u32 = 4;

fn store_failure(error: &StoreError) -> Problem {
    crate::service::store_problem(error)
}

/// Create a key for `account`, or an admin key when none is named. The account must exist.
///
/// # Errors
/// `invalid-input`, `not-found` for an unknown account.
pub async fn create(state: &AppState, body: KeyRequest) -> Result<KeyResponse, Problem> {
    if let Some(account) = &body.account {
        validate::id("account", account)?;
        load_account(state, account).await?;
    }
    for _ in 0..MAX_KEY_ID_ATTEMPTS {
        let minted = auth::mint_key(body.account.clone(), state.clock.now());
        match state.store.put_key(&minted.record).await {
            Ok(()) => {
                tracing::info!(key_id = %minted.id, account = ?minted.record.account, "API key created");
                return Ok(KeyResponse {
                    id: minted.id,
                    key: minted.key,
                    account: minted.record.account,
                    created_at: minted.record.created_at,
                });
            }
            Err(StoreError::KeyExists(_)) => {}
            Err(error) => return Err(store_failure(&error)),
        }
    }
    Err(Problem::internal())
}

/// Revoke a key. Revoking a revoked key answers its first revocation time.
///
/// # Errors
/// `not-found` for an unknown key.
pub async fn revoke(state: &AppState, id: &str) -> Result<RevokedKeyResponse, Problem> {
    let not_found = || Problem::not_found(format!("key `{}` not found", display_id(id)));
    let revoked = state
        .store
        .revoke_key(id, state.clock.now())
        .await
        .map_err(|error| store_failure(&error))?;
    if !revoked {
        return Err(not_found());
    }
    let record = state
        .store
        .key(id)
        .await
        .map_err(|error| store_failure(&error))?
        .ok_or_else(not_found)?;
    state.keys.forget(id);
    tracing::info!(key_id = %id, "API key revoked");
    Ok(RevokedKeyResponse {
        id: record.id,
        revoked_at: record.revoked_at.unwrap_or_else(|| state.clock.now()),
    })
}
