//! Recorded exchanges (see fixtures/README.md).
