//! credits-ledger
