//! credits-tests
pub mod dynamodb_local;
