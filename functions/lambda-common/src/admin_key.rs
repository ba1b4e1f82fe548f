//! The static admin key, read once at init from the Secrets Manager secret the template
//! generates (`AdminKeySecret`, named by `CREDITS_ADMIN_KEY_SECRET_ARN`). Only its SHA-256
//! stays in memory; the key is never logged. The role of each HTTP function may read that one
//! secret and nothing else (`secretsmanager:GetSecretValue`, template_admin_key.rs).

use crate::InitError;

/// The secret's name (or ARN) in the function's environment.
pub const ADMIN_KEY_SECRET_ENV: &str = "CREDITS_ADMIN_KEY_SECRET_ARN";

/// The SHA-256 of the admin key held by `secret_id` (its `SecretString`).
///
/// # Errors
///
/// [`InitError::Setting`] when the secret cannot be read (no permission, no such secret,
/// network) or is not a usable admin key: the function does not start.
pub async fn sha256_from_secret(
    config: &aws_config::SdkConfig,
    secret_id: &str,
) -> Result<[u8; 32], InitError> {
    let unusable = |reason: String| InitError::Setting {
        name: ADMIN_KEY_SECRET_ENV,
        reason,
    };
    let client = aws_sdk_secretsmanager::Client::new(config);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| {
            let error = aws_sdk_secretsmanager::error::DisplayErrorContext(&error);
            unusable(format!("the secret `{secret_id}` cannot be read: {error}"))
        })?;
    let key = output
        .secret_string()
        .ok_or_else(|| unusable(format!("the secret `{secret_id}` holds no text")))?;
    sha256_of_key(key).map_err(unusable)
}

/// The SHA-256 of `key` if it is a usable admin key (what `credits serve` accepts).
fn sha256_of_key(key: &str) -> Result<[u8; 32], String> {
    credits_api::auth::check_static_key(key)?;
    Ok(credits_api::auth::sha256(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_hashed_and_a_short_or_spaced_one_refused() {
        let key = "A".repeat(48);
        assert_eq!(
            sha256_of_key(&key).unwrap(),
            credits_api::auth::sha256(&key)
        );
        assert!(sha256_of_key("short").is_err());
        assert!(sha256_of_key("a key with spaces in it").is_err());
    }
}
