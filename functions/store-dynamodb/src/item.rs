//! Records ⇄ DynamoDB items.
//!
//! Written by hand rather than through serde_dynamo because three things must hold that a
//! derived mapping would not give: timestamps are fixed-width strings (so `at < :to` and the
//! due index's `due_at <= :now` compare as times), amounts are `N` integers, and
//! ledger-owned JSON (`state`, `body`, `response`) is kept as one JSON string, byte-exact,
//! instead of being re-typed into DynamoDB maps where numbers could change form.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use credits_store::{
    AccountRecord, EntryRecord, EventRecord, FactRecord, KeyRecord, MAX_ID_BYTES, OperationRecord,
    StoreError, StoreResult,
};

use crate::table::{
    AT_SEQ_ATTRIBUTE, DUE_AT_ATTRIBUTE, DUE_SHARD_ATTRIBUTE, DUE_SHARDS, PARTITION_KEY, SORT_KEY,
};

/// The entry's position in its account's history, as a number attribute.
const SEQ_ATTRIBUTE: &str = "seq";

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Sort key of the account item.
pub(crate) const ACCOUNT_SK: &str = "ACCOUNT";
/// Sort key of a key item.
pub(crate) const KEY_SK: &str = "KEY";
/// Partition key prefix of everything an account owns (its snapshot, entries, facts and
/// operation records): IAM's `dynamodb:LeadingKeys` conditions in infra/template.yaml rely on it.
pub const ACCOUNT_PK_PREFIX: &str = "A#";
/// Partition key prefix of an API key item.
pub const KEY_PK_PREFIX: &str = "K#";
const ENTRY_SK_PREFIX: &str = "E#";
const FACT_SK_PREFIX: &str = "F#";
const OPERATION_SK_PREFIX: &str = "O#";
/// Sort key prefix of an event (the outbox): the publisher's stream filter keeps only
/// inserts of items whose `sk` starts with it (infra/template.yaml).
pub const EVENT_SK_PREFIX: &str = "V#";

/// DynamoDB's item size limit is 400 KB; keep a margin for attribute names and overhead.
pub(crate) const MAX_ITEM_BYTES: usize = 390 * 1024;
/// DynamoDB's limit for one transaction's items is 4 MB.
pub(crate) const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;

pub(crate) fn account_pk(account: &str) -> String {
    format!("{ACCOUNT_PK_PREFIX}{account}")
}

pub(crate) fn key_pk(id: &str) -> String {
    format!("{KEY_PK_PREFIX}{id}")
}

/// `E#` and the seq in 20 digits (every `u64`), so string order is seq order.
pub(crate) fn entry_sk(seq: u64) -> String {
    format!("{ENTRY_SK_PREFIX}{seq:020}")
}

/// `V#` and the event seq in 20 digits, so string order is seq order.
pub(crate) fn event_sk(seq: u64) -> String {
    format!("{EVENT_SK_PREFIX}{seq:020}")
}

pub(crate) fn fact_sk(key: &str) -> String {
    format!("{FACT_SK_PREFIX}{key}")
}

/// The time index's sort key: the fixed-width `at`, `#`, the 20-digit seq. String order is
/// (time, seq) order, and every value of an instant sorts after that instant's bare
/// timestamp and before the next instant's.
pub(crate) fn at_seq(at: &DateTime<Utc>, seq: u64) -> StoreResult<String> {
    Ok(format!("{}#{seq:020}", timestamp(at)?))
}

pub(crate) fn operation_sk(id: &str) -> String {
    format!("{OPERATION_SK_PREFIX}{id}")
}

/// The account name inside an `A#<account>` partition key.
pub(crate) fn account_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(ACCOUNT_PK_PREFIX)
}

pub(crate) fn key_of(pk: String, sk: &str) -> Item {
    HashMap::from([
        (PARTITION_KEY.to_string(), AttributeValue::S(pk)),
        (SORT_KEY.to_string(), AttributeValue::S(sk.to_string())),
    ])
}

/// Whether an id could ever have been written; reads of one that could not answer "absent"
/// without asking DynamoDB (which would refuse the key).
pub(crate) fn storable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_BYTES
}

/// Rejects an id DynamoDB could not key, or one the store could not tell apart.
pub(crate) fn check_id(what: &str, id: &str) -> StoreResult<()> {
    if id.is_empty() {
        return Err(StoreError::Invalid(format!("{what} id is empty")));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(StoreError::Invalid(format!(
            "{what} id is {} bytes long, more than {MAX_ID_BYTES}",
            id.len()
        )));
    }
    Ok(())
}

/// Fixed width (`2025-01-31T23:59:59.123456Z`) for years 0–9999, so string order is time
/// order. Kept to the microsecond, truncated toward the past (the store contract's rule, which
/// SQLite shares), for stored times and query bounds alike.
pub(crate) fn timestamp(at: &DateTime<Utc>) -> StoreResult<String> {
    if !(0..=9999).contains(&at.year()) {
        return Err(StoreError::Invalid(format!(
            "timestamp `{at}` is outside years 0 to 9999"
        )));
    }
    let nanos = at.nanosecond();
    let truncated = at
        .with_nanosecond(nanos - nanos % 1_000)
        .ok_or_else(|| StoreError::Invalid(format!("timestamp `{at}` cannot be truncated")))?;
    Ok(truncated.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A version or seq: the contract caps them at `i64::MAX`, which every store can hold.
pub(crate) fn check_counter(what: &str, value: u64) -> StoreResult<()> {
    if i64::try_from(value).is_err() {
        return Err(StoreError::Invalid(format!(
            "{what} {value} is more than {}",
            i64::MAX
        )));
    }
    Ok(())
}

pub(crate) fn parse_timestamp(name: &str, text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` is not a timestamp: {e}")))
}

/// The due-index shard of an account: the contract's segment of it among [`DUE_SHARDS`]
/// segments (FNV-1a of its name, stable across builds, machines and stores).
pub(crate) fn due_shard(account: &str) -> u32 {
    credits_store::segment_of(account, DUE_SHARDS)
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn json_text(name: &str, value: &serde_json::Value) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Invalid(format!("`{name}` cannot be serialized: {e}")))
}

pub(crate) fn account_item(record: &AccountRecord) -> StoreResult<Item> {
    check_id("account", &record.account)?;
    check_counter("version", record.version)?;
    let mut item = key_of(account_pk(&record.account), ACCOUNT_SK);
    item.insert("account".into(), s(&record.account));
    item.insert("version".into(), n(record.version));
    item.insert("state".into(), json_text("state", &record.state)?);
    if let Some(due_at) = &record.due_at {
        // Both index keys or neither: an account without `due_at` stays out of the index.
        item.insert(DUE_AT_ATTRIBUTE.into(), s(timestamp(due_at)?));
        item.insert(DUE_SHARD_ATTRIBUTE.into(), n(due_shard(&record.account)));
    }
    Ok(item)
}

pub(crate) fn account_record(item: &Item) -> StoreResult<AccountRecord> {
    Ok(AccountRecord {
        account: string(item, "account")?,
        version: number(item, "version")?,
        due_at: optional_string(item, DUE_AT_ATTRIBUTE)?
            .map(|text| parse_timestamp(DUE_AT_ATTRIBUTE, &text))
            .transpose()?,
        state: json(item, "state")?,
    })
}

pub(crate) fn entry_item(record: &EntryRecord) -> StoreResult<Item> {
    check_id("entry", &record.id)?;
    check_counter("seq", record.seq)?;
    let mut item = key_of(account_pk(&record.account), &entry_sk(record.seq));
    item.insert("account".into(), s(&record.account));
    item.insert("id".into(), s(&record.id));
    item.insert(SEQ_ATTRIBUTE.into(), n(record.seq));
    item.insert(AT_SEQ_ATTRIBUTE.into(), s(at_seq(&record.at, record.seq)?));
    item.insert("at".into(), s(timestamp(&record.at)?));
    item.insert("entry_type".into(), s(&record.entry_type));
    item.insert("operation".into(), s(&record.operation));
    item.insert("amount_minor".into(), n(record.amount_minor));
    let optional = [
        ("unit", &record.unit),
        ("feature", &record.feature),
        ("model", &record.model),
        ("project", &record.project),
        ("member", &record.member),
        ("content", &record.content),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item.insert("body".into(), json_text("body", &record.body)?);
    Ok(item)
}

pub(crate) fn entry_record(item: &Item) -> StoreResult<EntryRecord> {
    Ok(EntryRecord {
        account: string(item, "account")?,
        id: string(item, "id")?,
        seq: number(item, SEQ_ATTRIBUTE)?,
        at: parse_timestamp("at", &string(item, "at")?)?,
        entry_type: string(item, "entry_type")?,
        operation: string(item, "operation")?,
        unit: optional_string(item, "unit")?,
        amount_minor: number(item, "amount_minor")?,
        feature: optional_string(item, "feature")?,
        model: optional_string(item, "model")?,
        project: optional_string(item, "project")?,
        member: optional_string(item, "member")?,
        content: optional_string(item, "content")?,
        body: json(item, "body")?,
    })
}

pub(crate) fn fact_item(record: &FactRecord) -> StoreResult<Item> {
    check_id("account", &record.account)?;
    let mut item = key_of(account_pk(&record.account), &fact_sk(&record.key));
    item.insert("account".into(), s(&record.account));
    item.insert("key".into(), s(&record.key));
    item.insert("value".into(), json_text("value", &record.value)?);
    Ok(item)
}

pub(crate) fn fact_record(item: &Item) -> StoreResult<FactRecord> {
    Ok(FactRecord {
        account: string(item, "account")?,
        key: string(item, "key")?,
        value: json(item, "value")?,
    })
}

pub(crate) fn operation_item(record: &OperationRecord) -> StoreResult<Item> {
    check_id("operation", &record.id)?;
    let mut item = key_of(account_pk(&record.account), &operation_sk(&record.id));
    item.insert("account".into(), s(&record.account));
    item.insert("id".into(), s(&record.id));
    item.insert("kind".into(), s(&record.kind));
    item.insert("request_hash".into(), s(&record.request_hash));
    item.insert("status".into(), n(record.status));
    item.insert("response".into(), json_text("response", &record.response)?);
    item.insert("at".into(), s(timestamp(&record.at)?));
    Ok(item)
}

pub(crate) fn operation_record(item: &Item) -> StoreResult<OperationRecord> {
    Ok(OperationRecord {
        account: string(item, "account")?,
        id: string(item, "id")?,
        kind: string(item, "kind")?,
        request_hash: string(item, "request_hash")?,
        status: number(item, "status")?,
        response: json(item, "response")?,
        at: parse_timestamp("at", &string(item, "at")?)?,
    })
}

pub(crate) fn event_item(record: &EventRecord) -> StoreResult<Item> {
    check_id("account", &record.account)?;
    check_id("event", &record.id)?;
    check_counter("event seq", record.seq)?;
    let mut item = key_of(account_pk(&record.account), &event_sk(record.seq));
    item.insert("account".into(), s(&record.account));
    item.insert(SEQ_ATTRIBUTE.into(), n(record.seq));
    item.insert("id".into(), s(&record.id));
    item.insert("event_type".into(), s(&record.event_type));
    item.insert("at".into(), s(timestamp(&record.at)?));
    item.insert("body".into(), json_text("body", &record.body)?);
    Ok(item)
}

pub(crate) fn event_record(item: &Item) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        account: string(item, "account")?,
        seq: number(item, SEQ_ATTRIBUTE)?,
        id: string(item, "id")?,
        event_type: string(item, "event_type")?,
        at: parse_timestamp("at", &string(item, "at")?)?,
        body: json(item, "body")?,
    })
}

pub(crate) fn key_item(record: &KeyRecord) -> StoreResult<Item> {
    check_id("key", &record.id)?;
    let mut item = key_of(key_pk(&record.id), KEY_SK);
    item.insert("id".into(), s(&record.id));
    item.insert("secret_hash".into(), s(&record.secret_hash));
    if let Some(account) = &record.account {
        item.insert("account".into(), s(account));
    }
    item.insert("created_at".into(), s(timestamp(&record.created_at)?));
    if let Some(revoked_at) = &record.revoked_at {
        item.insert("revoked_at".into(), s(timestamp(revoked_at)?));
    }
    Ok(item)
}

pub(crate) fn key_record(item: &Item) -> StoreResult<KeyRecord> {
    Ok(KeyRecord {
        id: string(item, "id")?,
        secret_hash: string(item, "secret_hash")?,
        account: optional_string(item, "account")?,
        created_at: parse_timestamp("created_at", &string(item, "created_at")?)?,
        revoked_at: optional_string(item, "revoked_at")?
            .map(|text| parse_timestamp("revoked_at", &text))
            .transpose()?,
    })
}

/// DynamoDB's size of an item: attribute names plus values (numbers counted by their digits,
/// an upper bound of DynamoDB's own encoding).
pub(crate) fn item_size_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size_bytes(value))
        .sum()
}

fn value_size_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
        AttributeValue::B(blob) => blob.as_ref().len(),
        // Items here only hold S and N; anything else is counted generously.
        _ => 1024,
    }
}

pub(crate) fn string(item: &Item, name: &str) -> StoreResult<String> {
    optional_string(item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` is missing")))
}

pub(crate) fn optional_string(item: &Item, name: &str) -> StoreResult<Option<String>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(text)) => Ok(Some(text.clone())),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is not a string"
        ))),
    }
}

pub(crate) fn number<T: std::str::FromStr>(item: &Item, name: &str) -> StoreResult<T> {
    match item.get(name) {
        Some(AttributeValue::N(text)) => text.parse().map_err(|_| {
            StoreError::Corrupt(format!("attribute `{name}` is out of range: {text}"))
        }),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is not a number"
        ))),
        None => Err(StoreError::Corrupt(format!(
            "attribute `{name}` is missing"
        ))),
    }
}

pub(crate) fn json(item: &Item, name: &str) -> StoreResult<serde_json::Value> {
    let text = string(item, name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, nanos).single().unwrap()
    }

    #[test]
    fn timestamps_are_fixed_width_so_string_order_is_time_order() {
        let earlier = timestamp(&at(1_700_000_000, 5_000)).unwrap();
        let later = timestamp(&at(1_700_000_000, 500_000_000)).unwrap();
        let whole = timestamp(&at(1_700_000_001, 0)).unwrap();
        assert_eq!(earlier.len(), whole.len());
        assert!(earlier < later && later < whole);
        assert_eq!(whole, "2023-11-14T22:13:21.000000Z");
        // Sub-microsecond digits are dropped, toward the past.
        assert_eq!(
            timestamp(&at(1_700_000_000, 1_999)).unwrap(),
            "2023-11-14T22:13:20.000001Z"
        );
    }

    #[test]
    fn records_survive_the_round_trip() {
        let account = AccountRecord {
            account: "acme".into(),
            version: 7,
            due_at: Some(at(1_700_000_000, 123_000)),
            state: serde_json::json!({"big": 18446744073709551615u64, "x": 1.5, "s": "é"}),
        };
        assert_eq!(
            account_record(&account_item(&account).unwrap()).unwrap(),
            account
        );

        let entry = EntryRecord {
            account: "acme".into(),
            id: "c1".into(),
            seq: 3,
            at: at(1_700_000_000, 0),
            entry_type: "charge".into(),
            operation: "c1".into(),
            unit: Some("credits".into()),
            amount_minor: -1_234,
            feature: Some("video".into()),
            model: None,
            project: None,
            member: Some("m".into()),
            content: None,
            body: serde_json::json!({"lines": []}),
        };
        assert_eq!(entry_record(&entry_item(&entry).unwrap()).unwrap(), entry);

        let event = EventRecord {
            account: "acme".into(),
            seq: 12,
            id: "acme:12".into(),
            event_type: "balance.low".into(),
            at: at(1_700_000_000, 123_000),
            body: serde_json::json!({"v": 1, "balance_minor": 5}),
        };
        let item = event_item(&event).unwrap();
        assert_eq!(
            item.get(SORT_KEY),
            Some(&AttributeValue::S("V#00000000000000000012".into()))
        );
        assert_eq!(item.get("seq"), Some(&AttributeValue::N("12".into())));
        assert_eq!(event_record(&item).unwrap(), event);

        let key = KeyRecord {
            id: "k1".into(),
            secret_hash: "ab".into(),
            account: None,
            created_at: at(1, 0),
            revoked_at: Some(at(2, 0)),
        };
        assert_eq!(key_record(&key_item(&key).unwrap()).unwrap(), key);
    }

    #[test]
    fn amounts_are_numbers_not_strings() {
        let entry = EntryRecord {
            account: "a".into(),
            id: "e".into(),
            seq: 1,
            at: at(0, 0),
            entry_type: "grant".into(),
            operation: "o".into(),
            unit: None,
            amount_minor: 500,
            feature: None,
            model: None,
            project: None,
            member: None,
            content: None,
            body: serde_json::Value::Null,
        };
        let item = entry_item(&entry).unwrap();
        assert_eq!(
            item.get("amount_minor"),
            Some(&AttributeValue::N("500".into()))
        );
    }

    #[test]
    fn due_shards_are_stable_and_in_range() {
        // Pinned: a change here would strand stored accounts in their old shard.
        assert_eq!(due_shard(""), 0x811c_9dc5 % DUE_SHARDS);
        assert_eq!(
            due_shard("acme"),
            credits_store::segment_of("acme", DUE_SHARDS)
        );
        assert!((0..1000).all(|i| due_shard(&format!("a{i}")) < DUE_SHARDS));
    }
}
