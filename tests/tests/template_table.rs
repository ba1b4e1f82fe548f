//! The table `infra/template.yaml` declares is the table the code uses.
//!
//! * Its keys, attribute definitions, indexes (keys and projections) and billing mode equal
//!   `credits_store_dynamodb::table_definition` — the one definition `create_table` uses.
//! * Its operational settings are the product's: on-demand, point-in-time recovery, deletion
//!   protection, kept when the stack goes (`DeletionPolicy: Retain`), TTL exactly where the
//!   store writes one.
//! * The table is then created in DynamoDB Local from the TEMPLATE's definition alone, read
//!   back (DynamoDB's own description must again equal the code's definition), and the
//!   DynamoDB store runs on it: a commit, loads, a replay, history through the local index,
//!   the due walk through the global index, API keys.
//!
//! `scripts/install-tools.sh` once (DynamoDB Local), then
//! `cargo test -p credits-tests --test template_table`

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{KeySchemaElement, Projection, TableDescription};
use chrono::{DateTime, Duration, TimeZone, Utc};
use credits_store::{
    AccountRecord, Commit, CommitOutcome, EntryQuery, EntryRecord, KeyRecord, OperationRecord,
    Store,
};
use credits_store_dynamodb::{DynamoStore, table_definition};
use credits_tests::dynamodb_local::{DynamoDbLocal, unique_table_name};
use credits_tests::template::{
    IndexShape, TableShape, Template, create_template_table, workspace_root,
};
use serde_json::json;

fn template() -> Template {
    Template::load().unwrap_or_else(|e| panic!("{e}"))
}

fn code_shape() -> TableShape {
    TableShape::of_definition(&table_definition("credits").expect("table_definition"))
}

#[test]
fn the_template_declares_the_table_the_store_defines() {
    let declared = template().table_shape().unwrap_or_else(|e| panic!("{e}"));
    let defined = code_shape();
    let differences = declared.differences(&defined);
    assert!(
        differences.is_empty(),
        "infra/template.yaml (left) and credits_store_dynamodb::table_definition (right) \
         disagree on the table:\n  {}\nChange the template to match the code (or both, with a \
         migration plan: keys and indexes of a live table cannot simply be changed).",
        differences.join("\n  ")
    );
}

#[test]
fn the_table_is_on_demand_recoverable_protected_and_retained() {
    let template = template();
    let (id, table) = template.table().unwrap();
    let properties = template.table_properties().unwrap();
    assert_eq!(
        properties["BillingMode"], "PAY_PER_REQUEST",
        "{id}: billing must be on-demand"
    );
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
        "{id}: point-in-time recovery must be on"
    );
    assert_eq!(
        properties["DeletionProtectionEnabled"], true,
        "{id}: deletion protection must be on"
    );
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        assert_eq!(
            table[policy], "Retain",
            "{id}: {policy} must be Retain, so deleting or replacing the stack never drops the ledger"
        );
    }
    assert!(
        properties.get("ProvisionedThroughput").is_none(),
        "{id}: on-demand tables take no ProvisionedThroughput"
    );
}

/// The store's TTL attribute, if it declares one (`pub const TTL_ATTRIBUTE: &str = "..."`
/// anywhere in the crate): the design uses TTL exactly when the store writes one.
fn store_ttl_attribute() -> Option<String> {
    let src = workspace_root().join("functions/store-dynamodb/src");
    let mut found = None;
    for entry in std::fs::read_dir(&src).expect("store-dynamodb/src") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Some(rest) = text.split("TTL_ATTRIBUTE: &str = \"").nth(1) {
                found = rest.split('"').next().map(str::to_string);
            }
        }
    }
    found
}

#[test]
fn time_to_live_is_declared_exactly_where_the_store_uses_one() {
    let template = template();
    let properties = template.table_properties().unwrap();
    let declared = properties.get("TimeToLiveSpecification");
    match store_ttl_attribute() {
        None => assert!(
            declared.is_none(),
            "the template declares TimeToLiveSpecification {declared:?}, but the DynamoDB store \
             writes no TTL attribute (no `TTL_ATTRIBUTE` in functions/store-dynamodb): entries \
             and idempotency records are kept forever, so nothing may expire them"
        ),
        Some(attribute) => {
            let declared = declared.unwrap_or_else(|| {
                panic!(
                    "the store writes TTL attribute `{attribute}`; declare TimeToLiveSpecification"
                )
            });
            assert_eq!(declared["AttributeName"], attribute.as_str());
            assert_eq!(declared["Enabled"], true);
        }
    }
}

/// The shape of a table as DynamoDB describes it.
fn described_shape(table: &TableDescription) -> TableShape {
    let keys = |schema: &[KeySchemaElement]| {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let index = |schema: &[KeySchemaElement], projection: Option<&Projection>| IndexShape {
        key_schema: keys(schema),
        projection_type: projection
            .and_then(Projection::projection_type)
            .map_or_else(String::new, |p| p.as_str().to_string()),
        non_key_attributes: projection
            .map(|p| p.non_key_attributes().iter().cloned().collect())
            .unwrap_or_default(),
    };
    TableShape {
        billing_mode: table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map_or_else(|| "PROVISIONED".to_string(), |b| b.as_str().to_string()),
        attributes: table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_string(),
                    a.attribute_type().as_str().to_string(),
                )
            })
            .collect(),
        key_schema: keys(table.key_schema()),
        local_indexes: table
            .local_secondary_indexes()
            .iter()
            .map(|i| {
                (
                    i.index_name().unwrap_or_default().to_string(),
                    index(i.key_schema(), i.projection()),
                )
            })
            .collect(),
        global_indexes: table
            .global_secondary_indexes()
            .iter()
            .map(|i| {
                (
                    i.index_name().unwrap_or_default().to_string(),
                    index(i.key_schema(), i.projection()),
                )
            })
            .collect(),
        stream_view_type: table
            .stream_specification()
            .filter(|spec| spec.stream_enabled())
            .and_then(|spec| spec.stream_view_type())
            .map(|view| view.as_str().to_string()),
    }
}

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, hour, 0, 0).unwrap()
}

fn entry(account: &str, id: &str, seq: u64, entry_type: &str, amount_minor: i64) -> EntryRecord {
    EntryRecord {
        account: account.to_string(),
        id: id.to_string(),
        seq,
        at: at(10),
        entry_type: entry_type.to_string(),
        operation: "op-1".to_string(),
        unit: Some("credit".to_string()),
        amount_minor,
        feature: (entry_type == "charge").then(|| "generative_video".to_string()),
        model: None,
        project: None,
        member: None,
        content: None,
        body: json!({"paid_from": []}),
    }
}

#[tokio::test]
async fn the_store_runs_on_a_table_created_from_the_template() {
    let local = DynamoDbLocal::shared().unwrap_or_else(|e| panic!("{e}"));
    let client = local.client().await;
    let name = unique_table_name("template");

    // 1. Create the table from the template's declaration alone.
    create_template_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // 2. DynamoDB's own description of it is the code's definition.
    let described = client
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .expect("describe_table");
    let described = described_shape(described.table().expect("a table description"));
    let differences = described.differences(&code_shape());
    assert!(
        differences.is_empty(),
        "the table created from the template (left) is not the one the store defines (right):\n  {}",
        differences.join("\n  ")
    );

    // 3. The store works on it.
    let store = DynamoStore::new(client, name);
    let account = "acme";
    let due = at(9);
    let commit = Commit {
        events: Vec::new(),
        expected_version: 0,
        account: AccountRecord {
            account: account.to_string(),
            version: 1,
            due_at: Some(due),
            state: json!({"plan": "invideo/plus"}),
        },
        entries: vec![
            entry(account, "grant-1", 1, "grant", 120_000),
            entry(account, "charge-1", 2, "charge", -7_000),
        ],
        facts: vec![],
        operation: Some(OperationRecord {
            account: account.to_string(),
            id: "op-1".to_string(),
            kind: "charge".to_string(),
            request_hash: "abc".to_string(),
            status: 201,
            response: json!({"id": "op-1"}),
            at: at(10),
        }),
    };
    assert_eq!(
        store.commit(commit.clone()).await.expect("commit"),
        CommitOutcome::Committed
    );
    let loaded = store
        .load(account)
        .await
        .expect("load")
        .expect("the account");
    assert_eq!(loaded, commit.account);

    // A replay of the same operation writes nothing and names the original.
    let mut replay = commit.clone();
    replay.expected_version = 1;
    replay.account.version = 2;
    replay.entries.clear();
    match store.commit(replay).await.expect("replayed commit") {
        CommitOutcome::OperationExists(original) => assert_eq!(Some(original), commit.operation),
        other => panic!("a replayed operation id must be refused, got {other:?}"),
    }
    assert_eq!(
        store.operation(account, "op-1").await.expect("operation"),
        commit.operation
    );

    // History through the local index, in seq order, with a filter.
    let page = store
        .entries(&EntryQuery {
            account: account.to_string(),
            ..EntryQuery::default()
        })
        .await
        .expect("entries");
    let seqs: Vec<u64> = page.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2]);
    assert_eq!(page.entries, commit.entries);
    let charges = store
        .entries(&EntryQuery {
            account: account.to_string(),
            types: vec!["charge".to_string()],
            ..EntryQuery::default()
        })
        .await
        .expect("filtered entries");
    assert_eq!(charges.entries.len(), 1);

    // The due walk through the global index.
    let mut due_accounts = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .due_accounts(due + Duration::minutes(1), 0, 1, cursor, 100)
            .await
            .expect("due_accounts");
        due_accounts.extend(page.accounts);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(due_accounts, BTreeSet::from([account.to_string()]));
    let not_yet = store
        .due_accounts(due - Duration::minutes(1), 0, 1, None, 100)
        .await
        .expect("due_accounts before due");
    assert!(not_yet.accounts.is_empty());

    // API keys.
    let key = KeyRecord {
        id: "k1".to_string(),
        secret_hash: "00".repeat(32),
        account: Some(account.to_string()),
        created_at: at(10),
        revoked_at: None,
    };
    store.put_key(&key).await.expect("put_key");
    assert_eq!(store.key("k1").await.expect("key"), Some(key));
    assert!(store.revoke_key("k1", at(11)).await.expect("revoke_key"));
    let revoked = store.key("k1").await.expect("key").expect("still there");
    assert_eq!(revoked.revoked_at, Some(at(11)));
}
