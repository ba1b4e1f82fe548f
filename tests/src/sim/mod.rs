//! The deterministic simulation (see [`run`]) and the helpers every reliability test uses.
pub mod env;
pub mod http;
