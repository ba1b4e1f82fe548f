//! API keys: format, hashing, and who a request is.
//!
//! A key reads `ck_<id>_<secret>`: `id` is public (it names the key in the store and in
//! `DELETE /v1/keys/{id}`), `secret` is 32 random bytes in hex. The store keeps only the hex
//! SHA-256 of the secret, so authenticating is one `Store::key(id)` read and a constant-time
//! comparison of hashes. A key is shown once, when created, and never logged.
//!
//! Besides stored keys, the deployment may configure one static admin key (the
//! `CREDITS_ADMIN_KEY` environment variable), any string of 16 to 256 printable ASCII
//! characters, compared the same way against its SHA-256.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use credits_store::{KeyRecord, Store};

use crate::problem::Problem;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "ck_";
/// The id of the admin key `credits serve` creates on first start.
pub const BOOTSTRAP_ADMIN_KEY_ID: &str = "admin";
const SECRET_BYTES: usize = 32;
const ID_BYTES: usize = 8;
/// A configured static admin key must be at least this long.
pub const STATIC_KEY_MIN_CHARS: usize = 16;
pub const STATIC_KEY_MAX_CHARS: usize = 256;
/// Longest `Authorization` header considered at all.
const MAX_TOKEN_CHARS: usize = 512;

/// How long a key read from the store is trusted without reading it again. A key revoked
/// through another process stops working here within this time; one revoked through this
/// process stops at once.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// Keys a process keeps in its cache.
const KEY_CACHE_CAPACITY: usize = 4096;

/// Valid keys recently read from the store (their hashes, never secrets), so a warm request
/// costs no key read. Unknown and revoked keys are never cached.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, (KeyRecord, Instant)>>,
}

impl KeyCache {
    fn get(&self, id: &str) -> Option<KeyRecord> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(id)
            .filter(|(_, read_at)| read_at.elapsed() < KEY_CACHE_TTL)
            .map(|(record, _)| record.clone())
    }

    fn put(&self, record: &KeyRecord) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.len() >= KEY_CACHE_CAPACITY {
            keys.retain(|_, (_, read_at)| read_at.elapsed() < KEY_CACHE_TTL);
            if keys.len() >= KEY_CACHE_CAPACITY {
                keys.clear();
            }
        }
        keys.insert(record.id.clone(), (record.clone(), Instant::now()));
    }

    /// Forget a key (revoked through this process).
    pub fn forget(&self, id: &str) {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.remove(id);
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Every account, and the admin routes.
    Admin { key_id: String },
    /// One account only.
    Account { key_id: String, account: String },
}

impl Principal {
    pub fn key_id(&self) -> &str {
        match self {
            Principal::Admin { key_id } | Principal::Account { key_id, .. } => key_id,
        }
    }

    /// The admin routes (accounts, top-ups, refunds, keys) need an admin key.
    ///
    /// # Errors
    /// `forbidden` for an account key.
    pub fn require_admin(&self) -> Result<(), Problem> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Account { .. } => Err(Problem::forbidden(
                "this route needs an admin key; account keys cannot call it",
            )),
        }
    }

    /// Account routes need an admin key or a key of that account.
    ///
    /// # Errors
    /// `forbidden` for a key of another account.
    pub fn require_account(&self, account: &str) -> Result<(), Problem> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::Account { account: own, .. } if own == account => Ok(()),
            Principal::Account { .. } => Err(Problem::forbidden(format!(
                "this key cannot act on account `{}`",
                crate::validate::display_id(account)
            ))),
        }
    }
}

/// A freshly minted key: the full key string is shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    /// `ck_<id>_<secret>`; never stored, never logged.
    pub key: String,
    pub record: KeyRecord,
}

/// Mint a key with a random id.
pub fn mint_key(account: Option<String>, now: DateTime<Utc>) -> NewKey {
    let mut id_bytes = [0_u8; ID_BYTES];
    rand::rng().fill_bytes(&mut id_bytes);
    mint_key_with_id(hex::encode(id_bytes), account, now)
}

/// Mint a key with a chosen id (the bootstrap admin key uses [`BOOTSTRAP_ADMIN_KEY_ID`]).
pub fn mint_key_with_id(id: String, account: Option<String>, now: DateTime<Utc>) -> NewKey {
    let mut secret_bytes = [0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut secret_bytes);
    let secret = hex::encode(secret_bytes);
    let key = format!("{KEY_PREFIX}{id}_{secret}");
    let record = KeyRecord {
        id: id.clone(),
        secret_hash: sha256_hex(&secret),
        account,
        created_at: now,
        revoked_at: None,
    };
    NewKey { id, key, record }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compare two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    let difference = left
        .iter()
        .zip(right.iter())
        .fold(0_u8, |acc, (l, r)| acc | (l ^ r));
    std::hint::black_box(difference) == 0
}

/// Split `ck_<id>_<secret>` into id and secret, if it has that shape.
pub fn parse_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let secret_ok =
        secret.len() == SECRET_BYTES * 2 && secret.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && secret_ok).then_some((id, secret))
}

/// Check that a configured static admin key is acceptable.
///
/// # Errors
/// A sentence saying what is wrong (never echoing the key).
pub fn check_static_key(key: &str) -> Result<(), String> {
    let chars = key.chars().count();
    if !(STATIC_KEY_MIN_CHARS..=STATIC_KEY_MAX_CHARS).contains(&chars) {
        return Err(format!(
            "the admin key must be {STATIC_KEY_MIN_CHARS} to {STATIC_KEY_MAX_CHARS} characters long"
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the admin key may hold only printable ASCII characters, no spaces".to_owned());
    }
    Ok(())
}

/// Read the bearer token out of an `Authorization` header value.
fn bearer_token(header: Option<&str>) -> Result<&str, Problem> {
    let header = header
        .ok_or_else(|| Problem::unauthorized("send an API key as `Authorization: Bearer <key>`"))?;
    let (scheme, token) = header.split_once(' ').ok_or_else(|| {
        Problem::unauthorized("the `Authorization` header must read `Bearer <key>`")
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Problem::unauthorized(
            "the `Authorization` header must use the `Bearer` scheme",
        ));
    }
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
        return Err(Problem::unauthorized("the API key is malformed"));
    }
    Ok(token)
}

/// Authenticate a request from its `Authorization` header.
///
/// # Errors
/// `unauthorized` when the header is missing or malformed or the key is unknown or revoked;
/// `internal` when the store fails.
pub async fn authenticate(
    store: &Arc<dyn Store>,
    cache: &KeyCache,
    static_admin_key_sha256: Option<&[u8; 32]>,
    header: Option<&str>,
) -> Result<Principal, Problem> {
    let token = bearer_token(header)?;
    let unknown = || Problem::unauthorized("the API key is unknown or revoked");
    if let Some((id, secret)) = parse_key(token) {
        let record = match cache.get(id) {
            Some(record) => Some(record),
            None => {
                let record = store
                    .key(id)
                    .await
                    .map_err(|error| crate::service::store_problem(&error))?;
                if let Some(record) = &record
                    && record.revoked_at.is_none()
                {
                    cache.put(record);
                }
                record
            }
        };
        if let Some(record) = record {
            let presented = sha256_hex(secret);
            let matches = constant_time_eq(presented.as_bytes(), record.secret_hash.as_bytes());
            if !matches || record.revoked_at.is_some() {
                return Err(unknown());
            }
            return Ok(match record.account {
                None => Principal::Admin { key_id: record.id },
                Some(account) => Principal::Account {
                    key_id: record.id,
                    account,
                },
            });
        }
    }
    // Not a stored key: it may be the configured static admin key.
    if let Some(expected) = static_admin_key_sha256
        && constant_time_eq(&sha256(token), expected)
    {
        return Ok(Principal::Admin {
            key_id: "static-admin".to_owned(),
        });
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_back() {
        let key = mint_key(Some("acme".into()), Utc::now());
        let (id, secret) = parse_key(&key.key).expect("parses");
        assert_eq!(id, key.id);
        assert_eq!(sha256_hex(secret), key.record.secret_hash);
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        assert!(parse_key("ck_abc").is_none());
        assert!(parse_key("ck__00").is_none());
        assert!(parse_key("xx_abc_00").is_none());
        assert!(parse_key(&format!("ck_ABC_{}", "0".repeat(64))).is_none());
        assert!(parse_key(&format!("ck_abc_{}", "0".repeat(63))).is_none());
        assert!(parse_key(&format!("ck_abc_{}", "0".repeat(64))).is_some());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
