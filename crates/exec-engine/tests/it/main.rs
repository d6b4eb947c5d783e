//! Integration tests of `exec-engine`: real processes on pipes and PTYs.
//!
//! Behaviour tests run once per backend (`support::each_backend`). Waiting is always on an
//! event with a deadline (`support::DEADLINE`); the only polling is for facts that produce no
//! event (a pid that is gone, an entry removed after its linger), and it too has a deadline.

mod support;

mod containment;
mod control;
mod flow;
mod output;
mod sandbox;
mod sessions;
mod start;
