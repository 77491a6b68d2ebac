//! tobira: a Cognito-compatible identity server.
//!
//! Layers, outside in: [`protocol`] (bytes ⇄ typed operations), [`service`] (Cognito's
//! semantics), [`store`] (SQLite or PostgreSQL), with [`ports`] for time, randomness and
//! message delivery, and [`crypto`] for SRP, JWTs and sealing. [`config`] is the one place
//! for settings, [`error`] the one error type.

pub mod app;
pub mod civil;
pub mod config;
pub mod crypto;
pub mod error;
pub mod ports;
pub mod protocol;
pub mod service;
pub mod store;
