//! credits-tests
pub mod activity;
pub mod dynamodb_local;
pub mod faults;
pub mod model;
pub mod router;
pub mod scenarios;
pub mod sim;
pub mod stream;
pub mod template;
