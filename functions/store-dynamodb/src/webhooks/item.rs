//! Items of the webhooks table: their keys, and endpoints and deliveries to and from them.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | endpoint | `W#ENDPOINTS` | `E#<endpoint id>` |
//! | endpoint count | `W#ENDPOINTS` | `COUNT` |
//! | lane (one per endpoint and account) | `L#<endpoint id>#<account>` | `LANE` |
//! | delivery | `L#<endpoint id>#<account>` | `D#<event seq, 20 digits>` |

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use credits_store::webhooks::{DeliveryRecord, DeliveryState, EndpointRecord};
use credits_store::{EventRecord, StoreError, StoreResult};

use super::table::{
    WEBHOOK_DUE_AT_ATTRIBUTE, WEBHOOK_DUE_SHARD_ATTRIBUTE, WEBHOOK_DUE_SHARDS,
    WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE, WEBHOOK_FAILING_KEY_ATTRIBUTE,
};
use crate::item::{
    Item, check_counter, check_id, json, json_text, key_of, n, number, optional_string,
    parse_timestamp, s, string, timestamp,
};

/// Partition of the endpoints and their count: at most 16 small items, read by one query.
pub(crate) const ENDPOINTS_PK: &str = "W#ENDPOINTS";
pub(crate) const ENDPOINT_SK_PREFIX: &str = "E#";
pub(crate) const COUNT_SK: &str = "COUNT";
pub(crate) const LANE_SK: &str = "LANE";
pub(crate) const DELIVERY_SK_PREFIX: &str = "D#";

pub(crate) const STATE: &str = "state";
pub(crate) const ATTEMPTS: &str = "attempts";
pub(crate) const FIRST_ATTEMPT_AT: &str = "first_attempt_at";
pub(crate) const LAST_STATUS: &str = "last_status";
pub(crate) const LAST_ERROR: &str = "last_error";
pub(crate) const EVENT_ID: &str = "event_id";
pub(crate) const COUNT: &str = "count";
pub(crate) const VERSION: &str = "version";
pub(crate) const LAST_SEQ: &str = "last_seq";
pub(crate) const DUE_SEQ: &str = "due_seq";

pub(crate) const DUE: &str = "due";
pub(crate) const WAITING: &str = "waiting";
pub(crate) const FAILED: &str = "failed";

/// What a held-back delivery says: its account's earlier event was given up on.
pub(crate) const HELD_BACK: &str = "held back by an earlier event that failed";

pub(crate) fn endpoint_key(id: &str) -> Item {
    key_of(
        ENDPOINTS_PK.to_owned(),
        &format!("{ENDPOINT_SK_PREFIX}{id}"),
    )
}

pub(crate) fn count_key() -> Item {
    key_of(ENDPOINTS_PK.to_owned(), COUNT_SK)
}

/// The partition of one (endpoint, account) lane. Endpoint ids hold no `#`, so the account
/// is everything after the second one.
pub(crate) fn lane_pk(endpoint: &str, account: &str) -> String {
    format!("L#{endpoint}#{account}")
}

pub(crate) fn delivery_sk(seq: u64) -> String {
    format!("{DELIVERY_SK_PREFIX}{seq:020}")
}

pub(crate) fn lane_key(endpoint: &str, account: &str) -> Item {
    key_of(lane_pk(endpoint, account), LANE_SK)
}

pub(crate) fn delivery_key(endpoint: &str, account: &str, seq: u64) -> Item {
    key_of(lane_pk(endpoint, account), &delivery_sk(seq))
}

/// The lane's due-index shard: every row of a lane lands in the same one.
pub(crate) fn due_shard(endpoint: &str, account: &str) -> u32 {
    credits_store::segment_of(&format!("{endpoint}#{account}"), WEBHOOK_DUE_SHARDS)
}

/// 64-bit FNV-1a of the account id, as 16 hex digits: the failing index's grouping of rows
/// by account, in a fixed order, with a key of bounded length (account ids go to 512 bytes).
pub(crate) fn account_hash(account: &str) -> String {
    let hash = account
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("{hash:016x}")
}

/// The failed listing's cursor for a row: unique per (account, seq) but for a 64-bit hash
/// collision, printable ASCII, 37 bytes.
pub(crate) fn failing_cursor(account: &str, seq: u64) -> String {
    format!("{}#{seq:020}", account_hash(account))
}

pub(crate) fn failing_key(account: &str, seq: u64) -> String {
    format!("{}#{account}", failing_cursor(account, seq))
}

/// The failing-index sort key just above every row of the cursor's (account hash, seq): `$`
/// sorts right after the `#` that follows them. `None` for a cursor this store never gave.
pub(crate) fn failing_start(cursor: &str) -> Option<String> {
    let (hash, seq) = cursor.split_once('#')?;
    let well_formed = hash.len() == 16
        && hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && seq.len() == 20
        && seq.bytes().all(|b| b.is_ascii_digit());
    well_formed.then(|| format!("{cursor}$"))
}

pub(crate) fn endpoint_item(record: &EndpointRecord) -> StoreResult<Item> {
    check_id("endpoint", &record.id)?;
    if record.id.contains('#') {
        return Err(StoreError::Invalid(format!(
            "endpoint id `{}` holds a `#`",
            record.id
        )));
    }
    let event_types = serde_json::to_value(&record.event_types)
        .map_err(|e| StoreError::Invalid(format!("event types: {e}")))?;
    let mut item = endpoint_key(&record.id);
    item.insert("id".into(), s(&record.id));
    item.insert("url".into(), s(&record.url));
    item.insert(
        "event_types".into(),
        json_text("event_types", &event_types)?,
    );
    item.insert("secret".into(), s(&record.secret));
    item.insert("created_at".into(), s(timestamp(&record.created_at)?));
    Ok(item)
}

pub(crate) fn endpoint_record(item: &Item) -> StoreResult<EndpointRecord> {
    let event_types = serde_json::from_value(json(item, "event_types")?)
        .map_err(|e| StoreError::Corrupt(format!("a webhook endpoint's event types: {e}")))?;
    Ok(EndpointRecord {
        id: string(item, "id")?,
        url: string(item, "url")?,
        event_types,
        secret: string(item, "secret")?,
        created_at: parse_timestamp("created_at", &string(item, "created_at")?)?,
    })
}

/// Refuses an event the table cannot name or hold, before anything is written.
pub(crate) fn check_event(event: &EventRecord) -> StoreResult<()> {
    check_id("account", &event.account)?;
    check_id("event", &event.id)?;
    check_counter("event seq", event.seq)?;
    timestamp(&event.at).map(|_| ())
}

/// A new delivery row of `event` for `endpoint`: due at `now`, or waiting.
pub(crate) fn delivery_item(
    endpoint: &str,
    event: &EventRecord,
    due_at: Option<DateTime<Utc>>,
) -> StoreResult<Item> {
    let mut item = delivery_key(endpoint, &event.account, event.seq);
    item.insert("endpoint".into(), s(endpoint));
    item.insert("account".into(), s(&event.account));
    item.insert("seq".into(), n(event.seq));
    item.insert(EVENT_ID.into(), s(&event.id));
    item.insert("event_type".into(), s(&event.event_type));
    item.insert("at".into(), s(timestamp(&event.at)?));
    item.insert("body".into(), json_text("body", &event.body)?);
    item.insert(ATTEMPTS.into(), n(0));
    match due_at {
        Some(at) => {
            item.insert(STATE.into(), s(DUE));
            item.insert(
                WEBHOOK_DUE_SHARD_ATTRIBUTE.into(),
                n(due_shard(endpoint, &event.account)),
            );
            item.insert(WEBHOOK_DUE_AT_ATTRIBUTE.into(), s(timestamp(&at)?));
        }
        None => {
            item.insert(STATE.into(), s(WAITING));
        }
    }
    Ok(item)
}

pub(crate) fn delivery_record(item: &Item) -> StoreResult<DeliveryRecord> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("a webhook delivery's {what}"));
    let state = match string(item, STATE)?.as_str() {
        DUE => DeliveryState::Due,
        WAITING => DeliveryState::Waiting,
        FAILED => DeliveryState::Failed,
        _ => return Err(corrupt("state")),
    };
    let time = |name: &str| {
        optional_string(item, name)?
            .map(|text| parse_timestamp(name, &text))
            .transpose()
    };
    let last_status = match item.get(LAST_STATUS) {
        Some(_) => Some(number::<u16>(item, LAST_STATUS)?),
        None => None,
    };
    Ok(DeliveryRecord {
        endpoint: string(item, "endpoint")?,
        position: 0,
        event: EventRecord {
            account: string(item, "account")?,
            seq: number(item, "seq")?,
            id: string(item, EVENT_ID)?,
            event_type: string(item, "event_type")?,
            at: parse_timestamp("at", &string(item, "at")?)?,
            body: json(item, "body")?,
        },
        state,
        attempts: number(item, ATTEMPTS)?,
        first_attempt_at: time(FIRST_ATTEMPT_AT)?,
        // Only a due row has a next attempt: the due index's sort key is it.
        next_attempt_at: if state == DeliveryState::Due {
            time(WEBHOOK_DUE_AT_ATTRIBUTE)?
        } else {
            None
        },
        last_status,
        last_error: optional_string(item, LAST_ERROR)?,
    })
}

/// The failing index's keys of a delivery row.
pub(crate) fn failing_values(
    endpoint: &str,
    account: &str,
    seq: u64,
) -> [(String, AttributeValue); 2] {
    [
        (WEBHOOK_FAILING_ENDPOINT_ATTRIBUTE.to_owned(), s(endpoint)),
        (
            WEBHOOK_FAILING_KEY_ATTRIBUTE.to_owned(),
            s(failing_key(account, seq)),
        ),
    ]
}

/// A lane as read: what it queued last, which of its rows is due, and its version (every
/// change of which row is due or waiting moves it, conditioned on the one read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lane {
    /// 0: no lane item yet.
    pub(crate) version: u64,
    pub(crate) last_seq: Option<u64>,
    pub(crate) due_seq: Option<u64>,
}

pub(crate) fn lane_of(item: Option<&Item>) -> StoreResult<Lane> {
    let Some(item) = item else {
        return Ok(Lane {
            version: 0,
            last_seq: None,
            due_seq: None,
        });
    };
    let optional = |name: &str| match item.get(name) {
        Some(_) => number::<u64>(item, name).map(Some),
        None => Ok(None),
    };
    Ok(Lane {
        version: number(item, VERSION)?,
        last_seq: optional(LAST_SEQ)?,
        due_seq: optional(DUE_SEQ)?,
    })
}

/// The seq of a delivery row, from its sort key.
pub(crate) fn seq_of_sk(sk: &str) -> StoreResult<u64> {
    sk.strip_prefix(DELIVERY_SK_PREFIX)
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("`{sk}` is not a delivery's sort key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_keys_group_an_account_s_rows_oldest_first_and_cursors_round_trip() {
        let a = failing_key("alice", 9);
        let b = failing_key("alice", 10);
        assert!(a < b);
        assert!(a.starts_with(&failing_cursor("alice", 9)));
        let start = failing_start(&failing_cursor("alice", 9)).unwrap();
        assert!(a < start && start < b);
        assert_eq!(failing_cursor("alice", 9).len(), 37);
        for invalid in [
            "",
            "x",
            "0123456789abcdef#1",
            "0123456789ABCDEF#00000000000000000001",
        ] {
            assert_eq!(failing_start(invalid), None, "{invalid}");
        }
    }

    #[test]
    fn lanes_stay_in_their_shard() {
        for account in ["alice", "bob", "ü"] {
            assert!(due_shard("wh_1", account) < WEBHOOK_DUE_SHARDS);
            assert_eq!(due_shard("wh_1", account), due_shard("wh_1", account));
        }
    }
}
