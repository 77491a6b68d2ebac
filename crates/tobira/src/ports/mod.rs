//! Ports: the edges of tobira that tests replace. Time, randomness, message delivery
//! (and, in later issues, trigger invocation) are reached only through these traits.

pub mod clock;
pub mod delivery;
pub mod random;
pub mod triggers;

pub use clock::{Clock, OffsetClock, SystemClock, TestClock};
pub use delivery::{Delivery, DeliveryChannel, Inbox, InboxMessage, OutgoingMessage};
pub use random::{Random, SystemRandom};
