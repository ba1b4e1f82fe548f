//! credits-api
