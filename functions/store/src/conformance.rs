//! The store contract as executable tests (being written).
