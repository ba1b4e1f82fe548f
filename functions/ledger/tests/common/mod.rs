//! Test support: hand-built rate books mirroring `rates/*.rates`, and a tiny in-memory
//! "shell" that applies decisions the way the API does (facts read from its entries).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod books;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use credits_dsl::{BookVersions, InputValue, RateBook, RateLibrary, Usage};
use credits_ledger::{
    Account, ChargeFacts, ClosedStatement, Command, Decision, Entry, EntryType, Event, Facts,
    LedgerError, Outcome, PurchaseFacts, decide, view,
};
use rust_decimal::Decimal;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("bad instant {text}: {error}"))
        .with_timezone(&Utc)
}

/// A usage from `(input, value)` pairs: numbers are quantities, `true`/`false` flags, other
/// text choices.
pub fn usage(feature: &str, inputs: &[(&str, &str)]) -> Usage {
    let inputs = inputs
        .iter()
        .map(|(name, value)| {
            let value = match *value {
                "true" => InputValue::Flag(true),
                "false" => InputValue::Flag(false),
                text => match text.parse::<Decimal>() {
                    Ok(quantity) => InputValue::Quantity(quantity),
                    Err(_) => InputValue::Choice(text.to_owned()),
                },
            };
            ((*name).to_owned(), value)
        })
        .collect();
    Usage {
        feature: feature.to_owned(),
        channel: None,
        inputs,
    }
}

/// `gen(n)` of the test books: exactly `n` whole units.
pub fn units(n: i64) -> Usage {
    usage("gen", &[("n", &n.to_string())])
}

/// The in-memory shell.
pub struct Shell {
    pub book: RateBook,
    /// Every version of `book` when the shell has several (`Shell::versioned`).
    pub library: Option<RateLibrary>,
    pub account: Option<Account>,
    pub entries: Vec<Entry>,
    /// Every statement the decisions closed, in order (the shell's fact records).
    pub closed_statements: Vec<ClosedStatement>,
    /// The last decision's `due_at` (when the rollover walk would next visit).
    pub due_at: Option<DateTime<Utc>>,
    /// Every event the decisions published, in order (the shell's outbox).
    pub events: Vec<Event>,
}

impl Shell {
    pub fn new(book: RateBook) -> Self {
        Self {
            book,
            library: None,
            account: None,
            entries: Vec::new(),
            closed_statements: Vec::new(),
            due_at: None,
            events: Vec::new(),
        }
    }

    /// A shell deciding with every version of `name` in `library` (`book` is the latest).
    pub fn versioned(library: RateLibrary, name: &str) -> Self {
        let mut shell = Self::new(library.latest(name).expect("the book is loaded").clone());
        shell.library = Some(library);
        shell
    }

    /// The versions the shell decides with.
    pub fn versions(&self) -> BookVersions<'_> {
        self.library
            .as_ref()
            .and_then(|library| library.book_versions(&self.book.name))
            .unwrap_or_else(|| BookVersions::single(&self.book))
    }

    /// The facts a command needs, read from history as the API does.
    pub fn facts(&self, command: &Command) -> Facts {
        let mut facts = Facts::default();
        let (feature, content) = match command {
            Command::Charge(spend) => (
                Some(&spend.usage.feature),
                spend.attribution.content.as_ref(),
            ),
            Command::Hold(hold) => (Some(&hold.usage.feature), hold.attribution.content.as_ref()),
            Command::Refund(refund) => {
                facts.charge = ChargeFacts::from_entries(&refund.charge, &self.entries).unwrap();
                (None, None)
            }
            Command::Chargeback(chargeback) => {
                facts.purchase =
                    PurchaseFacts::fold(None, &chargeback.purchase, &self.entries).unwrap();
                (None, None)
            }
            _ => (None, None),
        };
        if let (Some(feature), Some(content)) = (feature, content) {
            let required = self
                .book
                .features
                .iter()
                .find(|candidate| candidate.name == *feature)
                .map(|feature| feature.requires_prior.clone())
                .unwrap_or_default();
            facts.prior_analysis = self.entries.iter().any(|entry| {
                matches!(entry.entry_type, EntryType::Charge | EntryType::Capture)
                    && entry.content.as_ref() == Some(content)
                    && entry
                        .feature
                        .as_ref()
                        .is_some_and(|feature| required.contains(feature))
            });
        }
        facts
    }

    /// Decides and, when accepted, commits. Checks determinism and the entry invariants.
    pub fn run(&mut self, command: &Command, now: DateTime<Utc>) -> Result<Outcome, LedgerError> {
        let facts = self.facts(command);
        let first = decide(
            self.account.as_ref(),
            command,
            &facts,
            &self.versions(),
            now,
        );
        let again = decide(
            self.account.as_ref(),
            command,
            &facts,
            &self.versions(),
            now,
        );
        assert_eq!(first, again, "decisions must be deterministic");
        let decision: Decision = first?;
        self.commit(decision)
    }

    /// Runs and unwraps.
    pub fn ok(&mut self, command: &Command, now: DateTime<Utc>) -> Outcome {
        self.run(command, now).unwrap_or_else(|error| {
            panic!("{} refused: {error} ({})", command.kind(), error.code())
        })
    }

    /// Runs, expecting a refusal, and checks that nothing would change.
    pub fn refused(&mut self, command: &Command, now: DateTime<Utc>) -> LedgerError {
        let before = self.account.clone();
        match self.run(command, now) {
            Ok(outcome) => panic!("{} accepted: {outcome:?}", command.kind()),
            Err(error) => {
                assert_eq!(before, self.account);
                error
            }
        }
    }

    fn commit(&mut self, decision: Decision) -> Result<Outcome, LedgerError> {
        let ids: BTreeSet<&str> = self.entries.iter().map(|entry| entry.id.as_str()).collect();
        let first_seq = self.entries.last().map_or(1, |entry| entry.seq + 1);
        for (expected_seq, entry) in (first_seq..).zip(&decision.entries) {
            assert!(
                !ids.contains(entry.id.as_str()),
                "entry id {} written twice",
                entry.id
            );
            assert_eq!(entry.seq, expected_seq, "seq of {}", entry.id);
        }
        // Closed statements and events are written in the same commit as the entries.
        assert!(
            decision.entries.len() + decision.closed_statements.len() + decision.events.len()
                <= credits_ledger::limits::MAX_DECISION_ENTRIES
        );
        // Events are numbered on from the last, gapless, with ids never seen before.
        let first_event = self.events.last().map_or(1, |event| event.seq + 1);
        for (expected_seq, event) in (first_event..).zip(&decision.events) {
            assert_eq!(event.seq, expected_seq, "seq of event {}", event.id);
            assert!(
                self.events.iter().all(|earlier| earlier.id != event.id),
                "event id {} published twice",
                event.id
            );
            assert_eq!(
                event.id,
                credits_ledger::event_id(&decision.account.id, event.seq)
            );
        }
        assert_eq!(
            decision.account.events_published,
            self.events.len() as u64 + decision.events.len() as u64,
            "the snapshot counts the events published"
        );
        // The snapshot is stored as JSON: it must read back identical.
        let json = serde_json::to_value(&decision.account).unwrap();
        let read_back: Account = serde_json::from_value(json).unwrap();
        assert_eq!(read_back, decision.account, "account JSON round trip");
        for closed in &decision.closed_statements {
            let json = serde_json::to_value(closed).unwrap();
            let read_back: ClosedStatement = serde_json::from_value(json).unwrap();
            assert_eq!(&read_back, closed, "statement JSON round trip");
            // Keys only grow: a statement never overwrites an earlier one.
            assert!(
                self.closed_statements
                    .iter()
                    .all(|earlier| earlier.fact_key() < closed.fact_key()),
                "statement {} closed after a later one",
                closed.fact_key()
            );
            self.closed_statements.push(closed.clone());
        }
        if let (Some(open), Some(last)) = (
            decision.account.statement.as_ref(),
            self.closed_statements.last(),
        ) {
            assert!(
                open.starts_at > last.starts_at,
                "open {open:?} after {last:?}"
            );
        }
        self.entries.extend(decision.entries);
        self.events.extend(decision.events);
        self.due_at = decision.due_at;
        self.account = Some(decision.account);
        self.check_sums();
        Ok(decision.outcome)
    }

    /// For every unit, the buckets (left + held) equal the sum of the entries.
    pub fn check_sums(&self) {
        let Some(account) = &self.account else { return };
        let mut buckets: BTreeMap<String, i64> = BTreeMap::new();
        for bucket in &account.buckets {
            *buckets.entry(bucket.unit.clone()).or_default() +=
                bucket.left_minor + bucket.held_minor;
        }
        let mut entries: BTreeMap<String, i64> = BTreeMap::new();
        for entry in &self.entries {
            if let Some(unit) = &entry.unit {
                *entries.entry(unit.clone()).or_default() += entry.amount_minor;
            }
        }
        buckets.retain(|_, amount| *amount != 0);
        entries.retain(|_, amount| *amount != 0);
        assert_eq!(buckets, entries, "balance must equal the sum of entries");
    }

    pub fn account(&self) -> &Account {
        self.account.as_ref().expect("account exists")
    }

    /// Available minor units of `unit` as a read at `now` sees them.
    pub fn available(&self, unit: &str, now: DateTime<Utc>) -> i64 {
        let balance = view(self.account(), &self.versions(), now).unwrap();
        balance
            .units
            .get(unit)
            .map_or(0, |unit| unit.available_minor)
    }

    /// `(kind, left)` of the live buckets of `unit`, in consumption order, at `now`.
    pub fn buckets(&self, unit: &str, now: DateTime<Utc>) -> Vec<(String, i64)> {
        let balance = view(self.account(), &self.versions(), now).unwrap();
        balance
            .units
            .get(unit)
            .map(|unit| {
                unit.buckets
                    .iter()
                    .map(|bucket| (bucket.kind.clone(), bucket.left_minor))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn entries_of(&self, entry_type: EntryType) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|entry| entry.entry_type == entry_type)
            .collect()
    }
}

/// Command builders.
pub mod cmd {
    use chrono::{DateTime, Utc};
    use credits_dsl::{SubscriptionPeriod, Usage};
    use credits_ledger::{
        Attribution, Capture, Command, Configure, HoldRequest, PlanRef, Refund, RefundAmount,
        Release, Spend, SubscriptionRequest, SubscriptionStatus, TopUp, TopUpAmount,
    };

    pub fn create(account: &str, plan: &str) -> Command {
        Command::Configure(Configure {
            id: format!("configure-{account}-{plan}"),
            account: account.to_owned(),
            plan: PlanRef::parse(plan).unwrap(),
            subscription: None,
            time_zone: None,
            credit_line_minor: None,
            status: None,
        })
    }

    pub fn configure(id: &str, account: &str, plan: &str) -> Configure {
        Configure {
            id: id.to_owned(),
            account: account.to_owned(),
            plan: PlanRef::parse(plan).unwrap(),
            subscription: None,
            time_zone: None,
            credit_line_minor: None,
            status: None,
        }
    }

    pub fn subscribe(
        id: &str,
        account: &str,
        plan: &str,
        period: SubscriptionPeriod,
        anchor: DateTime<Utc>,
    ) -> Command {
        Command::Configure(Configure {
            subscription: Some(SubscriptionRequest {
                status: SubscriptionStatus::Active,
                period,
                anchor,
                ends_at: None,
            }),
            ..configure(id, account, plan)
        })
    }

    pub fn cancel(
        id: &str,
        account: &str,
        plan: &str,
        period: SubscriptionPeriod,
        anchor: DateTime<Utc>,
    ) -> Command {
        Command::Configure(Configure {
            subscription: Some(SubscriptionRequest {
                status: SubscriptionStatus::Cancelled,
                period,
                anchor,
                ends_at: None,
            }),
            ..configure(id, account, plan)
        })
    }

    pub fn charge(id: &str, usage: Usage) -> Command {
        Command::Charge(Spend {
            id: id.to_owned(),
            usage,
            attribution: Attribution::default(),
            occurred_at: None,
            collect: credits_ledger::Collect::All,
            outcome: credits_dsl::JobOutcome::Completed,
        })
    }

    pub fn charge_on(id: &str, usage: Usage, content: &str) -> Command {
        Command::Charge(Spend {
            id: id.to_owned(),
            usage,
            attribution: Attribution {
                content: Some(content.to_owned()),
                ..Attribution::default()
            },
            occurred_at: None,
            collect: credits_ledger::Collect::All,
            outcome: credits_dsl::JobOutcome::Completed,
        })
    }

    pub fn hold(id: &str, usage: Usage, ttl_seconds: u32) -> Command {
        Command::Hold(HoldRequest {
            id: id.to_owned(),
            usage,
            ttl_seconds,
            attribution: Attribution::default(),
        })
    }

    pub fn capture(id: &str, hold: &str, usage: Option<Usage>) -> Command {
        Command::Capture(Capture {
            id: id.to_owned(),
            hold: hold.to_owned(),
            usage,
            outcome: credits_dsl::JobOutcome::Completed,
        })
    }

    pub fn release(id: &str, hold: &str) -> Command {
        Command::Release(Release {
            id: id.to_owned(),
            hold: hold.to_owned(),
        })
    }

    pub fn top_up(id: &str, unit: &str, amount_minor: i64) -> Command {
        Command::TopUp(TopUp {
            id: id.to_owned(),
            amount: TopUpAmount::Amount {
                unit: Some(unit.to_owned()),
                amount_minor,
            },
            kind: None,
            expires_at: None,
        })
    }

    pub fn package(id: &str, name: &str) -> Command {
        Command::TopUp(TopUp {
            id: id.to_owned(),
            amount: TopUpAmount::Package {
                name: name.to_owned(),
            },
            kind: None,
            expires_at: None,
        })
    }

    pub fn refund(id: &str, charge: &str, reason: &str, amount_minor: Option<i64>) -> Command {
        Command::Refund(Refund {
            id: id.to_owned(),
            charge: charge.to_owned(),
            reason: reason.to_owned(),
            amount: amount_minor.map(|amount_minor| RefundAmount {
                unit: None,
                amount_minor,
            }),
        })
    }

    /// A credit (`amount_minor` > 0) or debit (< 0) adjustment of `credit`.
    pub fn adjust(id: &str, amount_minor: i64, bucket: Option<&str>) -> Command {
        Command::Adjust(credits_ledger::Adjustment {
            id: id.to_owned(),
            direction: if amount_minor < 0 {
                credits_ledger::Direction::Debit
            } else {
                credits_ledger::Direction::Credit
            },
            unit: None,
            amount_minor: amount_minor.abs(),
            reason: credits_ledger::AdjustmentReason::Correction,
            memo: Some("by hand".to_owned()),
            kind: None,
            expires_at: None,
            bucket: bucket.map(str::to_owned),
        })
    }

    pub fn void(id: &str, bucket: &str) -> Command {
        Command::Void(credits_ledger::Void {
            id: id.to_owned(),
            bucket: bucket.to_owned(),
            memo: None,
        })
    }

    pub fn chargeback(id: &str, purchase: &str) -> Command {
        Command::Chargeback(credits_ledger::Chargeback {
            id: id.to_owned(),
            purchase: purchase.to_owned(),
            memo: None,
        })
    }

    pub fn advance(id: &str) -> Command {
        Command::Advance { id: id.to_owned() }
    }
}
