//! credits-tests
