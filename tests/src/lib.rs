//! credits-tests
pub mod dynamodb_local;
pub mod template;
