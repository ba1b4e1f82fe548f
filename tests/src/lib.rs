//! credits-tests
pub mod dynamodb_local;
pub mod template;
pub mod faults;
pub mod model;
pub mod sim;
pub mod scenarios;
