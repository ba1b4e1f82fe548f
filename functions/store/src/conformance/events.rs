//! The outbox contract: events written by the commit that made them true, read back per
//! account by seq and (where the store has one) store-wide from the feed.
//!
//! A group of its own, apart from [`super::run_all`], so that a store can be held to it as
//! soon as it writes events. [`run_all`] runs every case in turn on one store.

use std::collections::BTreeSet;

use serde_json::json;

use super::{
    assert_invalid, base_time, commit_ok, create, create_commit, entry, loaded, next_commit,
    operation, supports_groups, unique,
};
use crate::{
    AccountRecord, Commit, CommitOutcome, EventRecord, FactRecord, GroupCommit, GroupMember,
    MAX_COMMIT_ENTRIES, MAX_PAGE_ENTRIES, Store, StoreError,
};

/// Runs every event case, one after the other, on `store`.
pub async fn run_all(store: &dyn Store) {
    events_are_written_with_their_commit(store).await;
    account_events_page_by_seq(store).await;
    refused_commits_write_no_events(store).await;
    an_existing_event_seq_writes_nothing(store).await;
    invalid_events_write_nothing(store).await;
    group_commit_writes_every_members_events(store).await;
    event_feed_follows_commit_order(store).await;
}

/// Event `seq` of `account`, with a payload naming it.
fn event(account: &str, seq: u64) -> EventRecord {
    EventRecord {
        account: account.to_owned(),
        seq,
        id: format!("evt-{account}-{seq}"),
        event_type: "balance.low".to_owned(),
        at: base_time(),
        body: json!({"type": "balance.low", "version": 1, "seq": seq, "data": {"unit": "credit"}}),
    }
}

fn events(account: &str, seqs: std::ops::RangeInclusive<u64>) -> Vec<EventRecord> {
    seqs.map(|seq| event(account, seq)).collect()
}

/// Every event of `account`, read page by page (pages of `page` events).
async fn all_events(store: &dyn Store, account: &str, page: u32) -> Vec<EventRecord> {
    let mut read = Vec::new();
    let mut after = 0;
    loop {
        let events = store
            .account_events(account, after, page)
            .await
            .expect("account_events succeeds");
        let Some(last) = events.last() else {
            return read;
        };
        after = last.seq;
        read.extend(events);
    }
}

fn with_events(mut commit: Commit, events: Vec<EventRecord>) -> Commit {
    commit.events = events;
    commit
}

pub async fn events_are_written_with_their_commit(store: &dyn Store) {
    let name = unique("events-written");
    let first = events(&name, 1..=2);
    commit_ok(
        store,
        with_events(
            create_commit(
                &name,
                vec![entry(&name, "e1", 1)],
                Some(operation(&name, "o1")),
            ),
            first.clone(),
        ),
    )
    .await;
    assert_eq!(all_events(store, &name, 0).await, first, "round trip");
    let current = loaded(store, &name).await;
    commit_ok(
        store,
        with_events(
            next_commit(&current, json!({"n": 2}), vec![], None),
            vec![event(&name, 3)],
        ),
    )
    .await;
    assert_eq!(
        all_events(store, &name, 0).await,
        events(&name, 1..=3),
        "a later commit's events follow"
    );
    // A commit without events writes none; another account has its own sequence.
    let current = loaded(store, &name).await;
    commit_ok(store, next_commit(&current, json!({"n": 3}), vec![], None)).await;
    assert_eq!(all_events(store, &name, 0).await.len(), 3);
    let other = unique("events-other");
    commit_ok(
        store,
        with_events(create_commit(&other, vec![], None), vec![event(&other, 1)]),
    )
    .await;
    assert_eq!(all_events(store, &other, 0).await, vec![event(&other, 1)]);
    assert_eq!(all_events(store, &name, 0).await.len(), 3);
}

pub async fn account_events_page_by_seq(store: &dyn Store) {
    let name = unique("events-pages");
    let mut current: Option<AccountRecord> = None;
    // 5 commits of 30 events: 150 events.
    for round in 0..5_u64 {
        let seqs = round * 30 + 1..=round * 30 + 30;
        let commit = match &current {
            None => create_commit(&name, vec![], None),
            Some(record) => next_commit(record, json!({"round": round}), vec![], None),
        };
        commit_ok(store, with_events(commit, events(&name, seqs))).await;
        current = Some(loaded(store, &name).await);
    }
    let expected = events(&name, 1..=150);
    for page in [1, 7, 30, 0, 1000] {
        assert_eq!(
            all_events(store, &name, page).await,
            expected,
            "pages of {page}"
        );
    }
    let after = store.account_events(&name, 148, 0).await.expect("reads");
    assert_eq!(after, events(&name, 149..=150), "after a seq");
    let none = store.account_events(&name, 150, 10).await.expect("reads");
    assert!(none.is_empty(), "nothing after the last");
    let huge = store
        .account_events(&name, u64::MAX, 10)
        .await
        .expect("reads");
    assert!(huge.is_empty(), "nothing after the largest seq");
    let missing = store
        .account_events(&unique("events-missing"), 0, 10)
        .await
        .expect("reads");
    assert!(missing.is_empty(), "an unknown account has no events");
    let capped = store
        .account_events(&name, 0, u32::MAX)
        .await
        .expect("reads");
    assert!(capped.len() <= MAX_PAGE_ENTRIES as usize);
    assert_eq!(capped, expected);
}

pub async fn refused_commits_write_no_events(store: &dyn Store) {
    let name = unique("events-refused");
    commit_ok(
        store,
        with_events(
            create_commit(&name, vec![], Some(operation(&name, "o1"))),
            vec![event(&name, 1)],
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    // A lost race.
    let mut stale = with_events(
        next_commit(&current, json!({"stale": true}), vec![], None),
        vec![event(&name, 2)],
    );
    stale.expected_version = 0;
    stale.account.version = 1;
    assert!(matches!(
        store.commit(stale).await,
        Ok(CommitOutcome::VersionConflict { .. })
    ));
    // A replayed operation.
    let replay = with_events(
        next_commit(
            &current,
            json!({"replay": true}),
            vec![],
            Some(operation(&name, "o1")),
        ),
        vec![event(&name, 2)],
    );
    assert!(matches!(
        store.commit(replay).await,
        Ok(CommitOutcome::OperationExists(_))
    ));
    // An entry seq that exists.
    commit_ok(
        store,
        next_commit(&current, json!({"n": 2}), vec![entry(&name, "e1", 1)], None),
    )
    .await;
    let current = loaded(store, &name).await;
    let duplicate_entry = with_events(
        next_commit(
            &current,
            json!({"n": 3}),
            vec![entry(&name, "e1b", 1)],
            None,
        ),
        vec![event(&name, 2)],
    );
    assert_eq!(
        store.commit(duplicate_entry).await.expect("commit answers"),
        CommitOutcome::EntryExists { seq: 1 }
    );
    assert_eq!(all_events(store, &name, 0).await, vec![event(&name, 1)]);
}

pub async fn an_existing_event_seq_writes_nothing(store: &dyn Store) {
    let name = unique("events-exists");
    commit_ok(
        store,
        with_events(create_commit(&name, vec![], None), events(&name, 1..=2)),
    )
    .await;
    let current = loaded(store, &name).await;
    let commit = with_events(
        next_commit(
            &current,
            json!({"n": 2}),
            vec![entry(&name, "e1", 1)],
            Some(operation(&name, "o-dup")),
        ),
        vec![event(&name, 3), event(&name, 2)],
    );
    assert_eq!(
        store.commit(commit).await.expect("commit answers"),
        CommitOutcome::EntryExists { seq: 2 }
    );
    assert_eq!(
        loaded(store, &name).await,
        current,
        "the snapshot is unchanged"
    );
    assert_eq!(all_events(store, &name, 0).await, events(&name, 1..=2));
    assert!(
        store
            .operation(&name, "o-dup")
            .await
            .expect("reads")
            .is_none()
    );
}

pub async fn invalid_events_write_nothing(store: &dyn Store) {
    let name = unique("events-invalid");
    let other = unique("events-invalid-other");
    let current = create(store, &name).await;
    let valid = |events: Vec<EventRecord>| {
        with_events(
            next_commit(&current, json!({"bad": true}), vec![], None),
            events,
        )
    };
    let mut cases: Vec<(&str, Commit)> = vec![
        ("an event of another account", valid(vec![event(&other, 1)])),
        (
            "an event seq twice",
            valid(vec![event(&name, 1), event(&name, 1)]),
        ),
        ("an event seq of 0", valid(vec![event(&name, 0)])),
        (
            "an empty event id",
            valid(vec![EventRecord {
                id: String::new(),
                ..event(&name, 1)
            }]),
        ),
        (
            "a seq beyond i64::MAX",
            valid(vec![event(&name, i64::MAX as u64 + 1)]),
        ),
        (
            "too many events",
            valid(events(&name, 1..=MAX_COMMIT_ENTRIES as u64 + 1)),
        ),
    ];
    // Entries, facts and events count together.
    let mut crowded = valid(events(&name, 1..=40));
    crowded.entries = (1..=40)
        .map(|seq| entry(&name, &format!("e{seq}"), seq))
        .collect();
    crowded.facts = (0..=(MAX_COMMIT_ENTRIES - 80))
        .map(|n| FactRecord {
            account: name.clone(),
            key: format!("fact-{n}"),
            value: json!(n),
        })
        .collect();
    cases.push(("entries, facts and events over the limit", crowded));
    for (what, commit) in cases {
        assert_invalid(store.commit(commit).await, what);
        assert_eq!(loaded(store, &name).await, current, "{what}: the snapshot");
        assert!(
            all_events(store, &name, 0).await.is_empty(),
            "{what}: events"
        );
    }
    // Exactly at the limit is accepted.
    let mut full = valid(events(&name, 1..=40));
    full.entries = (1..=40)
        .map(|seq| entry(&name, &format!("e{seq}"), seq))
        .collect();
    full.facts = (0..(MAX_COMMIT_ENTRIES - 80))
        .map(|n| FactRecord {
            account: name.clone(),
            key: format!("fact-{n}"),
            value: json!(n),
        })
        .collect();
    commit_ok(store, full).await;
    assert_eq!(all_events(store, &name, 0).await, events(&name, 1..=40));
}

pub async fn group_commit_writes_every_members_events(store: &dyn Store) {
    let name = unique("events-group");
    let created = create(store, &name).await;
    if !supports_groups(store, &created).await {
        return;
    }
    let member = |n: u64, events: Vec<EventRecord>| GroupMember {
        entries: vec![entry(&name, &format!("g{n}"), n)],
        facts: vec![],
        operation: Some(operation(&name, &format!("g-{n}"))),
        events,
    };
    let group = |members: Vec<GroupMember>| GroupCommit {
        expected_version: created.version,
        account: AccountRecord {
            version: created.version + members.len() as u64,
            state: json!({"group": true}),
            ..created.clone()
        },
        members,
    };
    // Two members publishing the same seq: invalid, nothing written.
    assert_invalid(
        store
            .commit_group(group(vec![
                member(1, vec![event(&name, 1)]),
                member(2, vec![event(&name, 1)]),
            ]))
            .await,
        "one event seq in two members",
    );
    assert!(all_events(store, &name, 0).await.is_empty());
    commit_ok(
        store,
        with_events(
            next_commit(&created, json!({"n": 2}), vec![], None),
            vec![event(&name, 1)],
        ),
    )
    .await;
    let current = loaded(store, &name).await;
    let regroup = |members: Vec<GroupMember>| GroupCommit {
        expected_version: current.version,
        account: AccountRecord {
            version: current.version + members.len() as u64,
            state: json!({"group": true}),
            ..current.clone()
        },
        members,
    };
    // A member's event seq that exists: nothing of the group is written.
    assert_eq!(
        store
            .commit_group(regroup(vec![
                member(1, vec![event(&name, 2)]),
                member(2, vec![event(&name, 1)]),
            ]))
            .await
            .expect("commit answers"),
        CommitOutcome::EntryExists { seq: 1 }
    );
    assert_eq!(all_events(store, &name, 0).await, vec![event(&name, 1)]);
    assert!(
        store
            .operation(&name, "g-1")
            .await
            .expect("reads")
            .is_none()
    );
    // Every member's events land, in member order.
    assert_eq!(
        store
            .commit_group(regroup(vec![
                member(1, vec![event(&name, 2), event(&name, 3)]),
                member(2, vec![]),
                member(3, vec![event(&name, 4)]),
            ]))
            .await
            .expect("commit answers"),
        CommitOutcome::Committed
    );
    assert_eq!(all_events(store, &name, 0).await, events(&name, 1..=4));
}

/// The position the feed has reached now (its last position), or `None` when the store
/// has no feed.
async fn feed_end(store: &dyn Store) -> Option<u64> {
    let mut after = 0;
    loop {
        match store.event_feed(after, 0).await {
            Err(StoreError::Invalid(_)) => return None,
            Err(error) => panic!("event_feed failed: {error}"),
            Ok(page) if page.events.is_empty() => {
                assert_eq!(page.next, after, "an empty page keeps the cursor");
                return Some(after);
            }
            Ok(page) => {
                assert!(page.next > after, "the cursor moves on");
                after = page.next;
            }
        }
    }
}

pub async fn event_feed_follows_commit_order(store: &dyn Store) {
    let Some(start) = feed_end(store).await else {
        return;
    };
    let (a, b) = (unique("feed-a"), unique("feed-b"));
    let mut published = Vec::new();
    let a1 = events(&a, 1..=2);
    commit_ok(
        store,
        with_events(create_commit(&a, vec![], None), a1.clone()),
    )
    .await;
    published.extend(a1);
    let b1 = vec![event(&b, 1)];
    commit_ok(
        store,
        with_events(create_commit(&b, vec![], None), b1.clone()),
    )
    .await;
    published.extend(b1);
    let current = loaded(store, &a).await;
    let a2 = vec![event(&a, 3)];
    commit_ok(
        store,
        with_events(
            next_commit(&current, json!({"n": 2}), vec![], None),
            a2.clone(),
        ),
    )
    .await;
    published.extend(a2);
    // A refused commit's events never reach the feed.
    let mut stale = with_events(
        next_commit(&current, json!({"n": 9}), vec![], None),
        vec![event(&a, 4)],
    );
    stale.account.version = current.version + 1;
    assert!(matches!(
        store.commit(stale).await,
        Ok(CommitOutcome::VersionConflict { .. })
    ));

    for page in [1, 2, 0] {
        let mut after = start;
        let mut positions = Vec::new();
        let mut read = Vec::new();
        loop {
            let fed = store.event_feed(after, page).await.expect("event_feed");
            if fed.events.is_empty() {
                assert_eq!(fed.next, after);
                break;
            }
            if page != 0 {
                assert!(fed.events.len() <= page as usize);
            }
            for item in &fed.events {
                positions.push(item.position);
                if [&a, &b].contains(&&item.event.account) {
                    read.push(item.event.clone());
                }
            }
            assert_eq!(
                fed.next,
                fed.events.last().map_or(after, |item| item.position)
            );
            after = fed.next;
        }
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "positions increase: {positions:?}"
        );
        assert!(positions.iter().all(|&position| position > start));
        assert_eq!(read, published, "pages of {page}: commit order");
    }
    let distinct: BTreeSet<&str> = published.iter().map(|event| event.id.as_str()).collect();
    assert_eq!(distinct.len(), published.len());
}
