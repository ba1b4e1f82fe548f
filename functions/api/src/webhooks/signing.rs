//! Webhook signatures: `Credits-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` of
//! `"<t>.<body>"` under the endpoint's secret, and [`verify`], what a receiver runs.
//!
//! The timestamp is inside the signed text, so a receiver that rejects a `t` older than
//! [`REPLAY_WINDOW_S`] also rejects a captured request replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Credits-Signature";
/// The header carrying the event id (receivers de-duplicate by it).
pub const EVENT_ID_HEADER: &str = "Credits-Event-Id";
/// The header carrying the event type.
pub const EVENT_TYPE_HEADER: &str = "Credits-Event-Type";
/// How old a signature's `t` a receiver accepts, in seconds (and how far in the future, for
/// clock skew).
pub const REPLAY_WINDOW_S: i64 = 5 * 60;
/// The longest signature header [`verify`] reads.
const MAX_HEADER_BYTES: usize = 512;

type HmacSha256 = Hmac<Sha256>;

/// The hex HMAC-SHA256 of `"<t>.<body>"` under `secret`.
#[must_use]
pub fn signature_hex(secret: &str, t: i64, body: &[u8]) -> String {
    // An HMAC takes a key of any length: this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Credits-Signature` header value for `body` sent at `t` (unix seconds).
#[must_use]
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", signature_hex(secret, t, body))
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    #[diagnostic(help("expected `t=<unix seconds>,v1=<hex>`"))]
    Malformed,
    #[error("the signature's time `{t}` is outside the {REPLAY_WINDOW_S} s window around now")]
    #[diagnostic(help("a replayed or long-delayed request; check the receiver's clock"))]
    Stale { t: i64 },
    #[error("no `v1` signature matches the body")]
    #[diagnostic(help("check the endpoint's secret and that the body is verified byte for byte"))]
    Mismatch,
}

/// Checks a `Credits-Signature` header against the raw `body`, at `now_unix_s`: the `t`
/// must be within [`REPLAY_WINDOW_S`] of now, and one `v1` must equal the HMAC (compared in
/// constant time). Several `v1` are allowed (a secret being rotated).
///
/// # Errors
/// [`VerifyError`] saying which check failed.
pub fn verify(secret: &str, header: &str, body: &[u8], now_unix_s: i64) -> Result<(), VerifyError> {
    if header.len() > MAX_HEADER_BYTES {
        return Err(VerifyError::Malformed);
    }
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                t = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
            }
            Some(("v1", value)) => candidates.push(value),
            Some(_) => {}
            None => return Err(VerifyError::Malformed),
        }
    }
    let t = t.ok_or(VerifyError::Malformed)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if now_unix_s.abs_diff(t) > REPLAY_WINDOW_S.unsigned_abs() {
        return Err(VerifyError::Stale { t });
    }
    let expected = signature_hex(secret, t, body);
    if candidates
        .iter()
        .any(|candidate| crate::auth::constant_time_eq(candidate.as_bytes(), expected.as_bytes()))
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_0123456789abcdef";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"balance.low"}"#;

    #[test]
    fn a_signed_body_verifies_within_the_window_and_not_outside() {
        let header = signature_header(SECRET, 1_700_000_000, BODY);
        let cases: &[(i64, Result<(), VerifyError>)] = &[
            (1_700_000_000, Ok(())),
            (1_700_000_300, Ok(())),
            (1_699_999_700, Ok(())),
            (1_700_000_301, Err(VerifyError::Stale { t: 1_700_000_000 })),
            (1_699_999_699, Err(VerifyError::Stale { t: 1_700_000_000 })),
        ];
        for (now, expected) in cases {
            assert_eq!(&verify(SECRET, &header, BODY, *now), expected, "now {now}");
        }
    }

    #[test]
    fn another_secret_body_or_time_does_not_verify() {
        let t = 1_700_000_000;
        let header = signature_header(SECRET, t, BODY);
        assert_eq!(
            verify("whsec_other", &header, BODY, t),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, b"{}", t),
            Err(VerifyError::Mismatch)
        );
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(verify(SECRET, &moved, BODY, t), Err(VerifyError::Mismatch));
        for malformed in ["", "t=1", "v1=00", "t=x,v1=00", "garbage"] {
            assert_eq!(
                verify(SECRET, malformed, BODY, t),
                Err(VerifyError::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn the_signature_is_the_hmac_openssl_computes() {
        // `printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac 'key'`
        assert_eq!(
            signature_hex("key", 1_700_000_000, b"{}"),
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
