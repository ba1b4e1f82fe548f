//! Entry and bucket ids: unique and bounded by construction.
//!
//! The store refuses an entry id it already holds and any id over 512 bytes; either refusal
//! of a lazy entry (rewritten by every later request until it lands) would wedge the
//! account. So:
//! - an id made from a client id names the operation (`charge:<id>:<unit>`); client ids are
//!   unique per account and percent-encoded (`work::key`), so these never repeat;
//! - a lazy entry that names a bucket or a date (forfeit, expiry, rollover) ends with its own
//!   `seq` (`Draft::numbered`): seqs never repeat within an account, so neither do these ids,
//!   whatever happens to anchors, zones or buckets;
//! - a grant's id names its plan, rule and period start, which a grant mark lets happen once;
//! - a bucket recreated by a refund gets a new id naming the refund (`restored:<refund>:…`),
//!   never the id of the bucket it replaces;
//! - an id longer than its limit keeps a readable head and ends with `%h` and the SHA-256 of
//!   the whole id ([`fit`]). `%h` never occurs in an unshortened id (client ids are encoded so
//!   that `%` is followed by `25` or `3A`; book names hold no `%`), and the digest is of the
//!   whole id under a per-kind tag, so shortened ids are as distinct as the ids they shorten.

use sha2::{Digest, Sha256};

use crate::limits::{MAX_BUCKET_ID_BYTES, MAX_ENTRY_ID_BYTES};

/// Hex digits of the SHA-256 digest ending a shortened id.
const DIGEST_HEX_DIGITS: usize = 64;
/// What separates a shortened id's head from its digest.
const DIGEST_MARK: &str = "%h";

/// `id` as an entry id of at most [`MAX_ENTRY_ID_BYTES`].
pub(crate) fn entry(id: String) -> String {
    fit(id, MAX_ENTRY_ID_BYTES, "entry")
}

/// `id` as a new bucket's id, at most [`MAX_BUCKET_ID_BYTES`].
pub(crate) fn bucket(id: String) -> String {
    fit(id, MAX_BUCKET_ID_BYTES, "bucket")
}

/// `id` unchanged when it has at most `max_bytes`, else its first bytes (on a character
/// boundary), `%h` and the hex SHA-256 of `tag` and the whole id, in `max_bytes` in all.
fn fit(id: String, max_bytes: usize, tag: &str) -> String {
    if id.len() <= max_bytes {
        return id;
    }
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    hasher.update([0_u8]);
    hasher.update(id.as_bytes());
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let room = max_bytes.saturating_sub(DIGEST_MARK.len() + DIGEST_HEX_DIGITS);
    let head: String = id
        .char_indices()
        .take_while(|(index, c)| index + c.len_utf8() <= room)
        .map(|(_, c)| c)
        .collect();
    format!("{head}{DIGEST_MARK}{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_kept() {
        assert_eq!(entry("charge:c-1:credit".into()), "charge:c-1:credit");
        let exact = "x".repeat(MAX_ENTRY_ID_BYTES);
        assert_eq!(entry(exact.clone()), exact);
    }

    #[test]
    fn long_ids_are_shortened_distinctly_within_the_limit() {
        let a = format!("top_up:{}", "%3A".repeat(256));
        let c = format!("top_up:{}", "%3A".repeat(255));
        let (fa, fc) = (entry(a.clone()), entry(c));
        assert_eq!(fa, entry(a), "deterministic");
        assert!(fa.len() <= MAX_ENTRY_ID_BYTES && fc.len() <= MAX_ENTRY_ID_BYTES);
        assert_ne!(fa, fc);
        assert!(fa.starts_with("top_up:%3A"));
        assert!(bucket("é".repeat(200)).len() <= MAX_BUCKET_ID_BYTES);
        // A bucket id and an entry id that are the same text shorten differently.
        let long = "refund:".to_owned() + &"r".repeat(600);
        assert_ne!(
            entry(long.clone()).rsplit(DIGEST_MARK).next(),
            bucket(long).rsplit(DIGEST_MARK).next()
        );
    }
}
