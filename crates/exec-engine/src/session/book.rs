//! The sans-I/O core of session bookkeeping: attached or detached, which attachment generation
//! is current, and when a detached session expires.
//!
//! [`Book`] takes the current time as an argument and never sleeps or spawns; the session layer
//! wraps it (a mutex, a timer task per detach). Generations make a stale handle harmless: a
//! handle that was taken over carries an old generation, so its drop cannot detach the new
//! attachment.

use std::time::Duration;

use tokio::time::Instant;

/// Whether a session has a live attachment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Attachment {
    /// Attached by the handle of this generation.
    Attached { generation: u64 },
    /// Nobody attached; expires at `deadline` unless resumed first.
    Detached { deadline: Instant },
}

/// The result of a successful [`Book::resume`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Resumed {
    /// The new attachment's generation.
    pub(crate) generation: u64,
    /// The generation that was attached until now and has been taken over, if any.
    pub(crate) took_over: Option<u64>,
}

/// Attachment state and deadline of one session.
#[derive(Clone, Debug)]
pub(crate) struct Book {
    ttl: Duration,
    /// The last generation handed out; generations start at 1.
    generation: u64,
    attachment: Attachment,
}

impl Book {
    /// A new session, attached by generation 1.
    pub(crate) fn new(ttl: Duration) -> Book {
        Book { ttl, generation: 1, attachment: Attachment::Attached { generation: 1 } }
    }

    /// The generation that created this session.
    pub(crate) fn first_generation() -> u64 {
        1
    }

    /// Attached (by which generation) or detached (until when).
    pub(crate) fn attachment(&self) -> Attachment {
        self.attachment
    }

    /// Whether some handle is attached.
    pub(crate) fn is_attached(&self) -> bool {
        matches!(self.attachment, Attachment::Attached { .. })
    }

    /// Whether `generation` is the current attachment.
    pub(crate) fn is_attached_as(&self, generation: u64) -> bool {
        self.attachment == Attachment::Attached { generation }
    }

    /// Detached and past its deadline.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        matches!(self.attachment, Attachment::Detached { deadline } if now >= deadline)
    }

    /// Attaches a new generation. `None` when the session had already expired (the caller must
    /// tear it down): expiry is decided here, not by whether a timer has fired.
    pub(crate) fn resume(&mut self, now: Instant) -> Option<Resumed> {
        if self.is_expired(now) {
            return None;
        }
        let took_over = match self.attachment {
            Attachment::Attached { generation } => Some(generation),
            Attachment::Detached { .. } => None,
        };
        self.generation += 1;
        self.attachment = Attachment::Attached { generation: self.generation };
        Some(Resumed { generation: self.generation, took_over })
    }

    /// Detaches `generation` if it is the current attachment, returning the new deadline; a
    /// stale generation (taken over) changes nothing and returns `None`.
    pub(crate) fn detach(&mut self, generation: u64, now: Instant) -> Option<Instant> {
        if !self.is_attached_as(generation) {
            return None;
        }
        let deadline = now + self.ttl;
        self.attachment = Attachment::Detached { deadline };
        Some(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(30);

    #[test]
    fn detach_then_resume_before_the_deadline() {
        let start = Instant::now();
        let mut book = Book::new(TTL);
        assert!(book.is_attached_as(Book::first_generation()));
        let deadline = book.detach(1, start).expect("current generation detaches");
        assert_eq!(deadline, start + TTL);
        assert!(!book.is_expired(start + TTL - Duration::from_millis(1)));
        let resumed = book.resume(start + Duration::from_secs(29)).expect("not expired");
        assert_eq!(resumed, Resumed { generation: 2, took_over: None });
        assert!(!book.is_expired(start + TTL * 10), "attached sessions never expire");
    }

    #[test]
    fn resume_past_the_deadline_fails_even_without_a_timer() {
        let start = Instant::now();
        let mut book = Book::new(TTL);
        book.detach(1, start);
        assert!(book.is_expired(start + TTL));
        assert_eq!(book.resume(start + TTL), None);
    }

    #[test]
    fn takeover_makes_the_old_generation_stale() {
        let start = Instant::now();
        let mut book = Book::new(TTL);
        let resumed = book.resume(start).expect("attached sessions can be taken over");
        assert_eq!(resumed, Resumed { generation: 2, took_over: Some(1) });
        // The old handle's drop must not detach the new attachment.
        assert_eq!(book.detach(1, start), None);
        assert_eq!(book.attachment(), Attachment::Attached { generation: 2 });
        assert!(book.detach(2, start).is_some());
        assert_eq!(book.detach(2, start), None, "detaching twice is a no-op");
    }

    #[test]
    fn a_later_detach_moves_the_deadline() {
        let start = Instant::now();
        let mut book = Book::new(TTL);
        book.detach(1, start);
        book.resume(start + Duration::from_secs(20));
        book.detach(2, start + Duration::from_secs(25));
        // The first deadline passes without expiring: an old timer firing then must do nothing.
        assert!(!book.is_expired(start + TTL));
        assert!(book.is_expired(start + Duration::from_secs(55)));
    }
}

/// The state machine against a model, over random sequences of detach, resume and time.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Detach the handle of the generation this many steps back (0: the current one).
        Detach {
            generations_back: u64,
        },
        Resume,
        Wait {
            seconds: u64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..3).prop_map(|generations_back| Op::Detach { generations_back }),
            Just(Op::Resume),
            (0u64..45).prop_map(|seconds| Op::Wait { seconds }),
        ]
    }

    proptest! {
        #[test]
        fn the_book_follows_its_model(ops in proptest::collection::vec(op(), 0..64)) {
            const TTL: Duration = Duration::from_secs(30);
            let start = Instant::now();
            let mut now = start;
            let mut book = Book::new(TTL);
            // The model: the current generation, and the deadline while detached.
            let mut generation = 1u64;
            let mut deadline: Option<Instant> = None;
            let mut expired = false;
            for op in ops {
                if expired {
                    break;
                }
                match op {
                    Op::Detach { generations_back } => {
                        let target = generation.saturating_sub(generations_back).max(1);
                        let detached = book.detach(target, now);
                        if target == generation && deadline.is_none() {
                            prop_assert_eq!(detached, Some(now + TTL));
                            deadline = Some(now + TTL);
                        } else {
                            prop_assert_eq!(detached, None, "a stale or repeated detach changes nothing");
                        }
                    }
                    Op::Resume => {
                        let past = deadline.is_some_and(|deadline| now >= deadline);
                        let resumed = book.resume(now);
                        if past {
                            prop_assert_eq!(resumed, None, "expired sessions cannot be resumed");
                            expired = true;
                        } else {
                            let took_over = deadline.is_none().then_some(generation);
                            generation += 1;
                            deadline = None;
                            prop_assert_eq!(resumed, Some(Resumed { generation, took_over }));
                        }
                    }
                    Op::Wait { seconds } => now += Duration::from_secs(seconds),
                }
                prop_assert_eq!(book.is_attached_as(generation), deadline.is_none() && !expired);
                prop_assert_eq!(book.is_attached(), deadline.is_none());
                prop_assert_eq!(book.is_expired(now), deadline.is_some_and(|deadline| now >= deadline));
            }
        }
    }
}
