//! The referral lifecycle as one pure state machine, used by both the sender and the
//! receiver.
//!
//! ```text
//! sent → delivered → accepted → handover_proposed ⇄ handover_scheduled → handover_done
//!      ↘ declined(reason)                                            → in_progress → closed(outcome)
//! any open state → withdrawn (sender) | consent_withdrawn (sender) | expired (no answer)
//! ```
//!
//! [`transition`] maps (state, event, acting side) to the next state, or to a
//! [`TransitionError`] that says why the step is not allowed. Both nodes apply the same
//! events in the same order (sequence numbers), so both reach the same state. Terminal
//! states are never left: the only event a terminal state accepts is a consent withdrawal,
//! which leaves the status as it is and triggers erasure of the data alongside it.

use serde::{Deserialize, Serialize};

/// Which end of a referral acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Side {
    /// The referring agency, which keeps case responsibility.
    Sender,
    /// The agency the client is referred to.
    Receiver,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Sender => Side::Receiver,
            Side::Receiver => Side::Sender,
        }
    }
}

/// Why a receiver declines a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeclineReason {
    /// No capacity; the sender keeps the case.
    NoCapacity,
    /// Not responsible for this need or area.
    NotResponsible,
    /// The client declined.
    ClientDeclined,
    /// Another reason, given in the note.
    Other,
}

/// How a referral ended after it was taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// The goals agreed were met.
    GoalsMet,
    /// The client manages alone now.
    ClientManagesAlone,
    /// Released to another service ("abgegeben").
    Released,
    /// Ended without plan (contact broken off, moved away).
    EndedUnplanned,
}

/// Where a referral stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReferralState {
    /// Sent, no receipt yet.
    Sent,
    /// Received by the recipient's node.
    Delivered,
    /// The recipient has taken the client on.
    Accepted,
    /// A handover meeting was proposed by one side and awaits the other's confirmation.
    HandoverProposed {
        /// Who proposed.
        by: Side,
    },
    /// A joint handover meeting is agreed.
    HandoverScheduled,
    /// The handover meeting took place.
    HandoverDone,
    /// The recipient is working with the client.
    InProgress,
    /// The recipient declined.
    Declined(DeclineReason),
    /// Closed with an outcome.
    Closed(Outcome),
    /// The sender withdrew the referral.
    Withdrawn,
    /// The client withdrew consent; the data is erased.
    ConsentWithdrawn,
    /// No answer came in time.
    Expired,
}

impl ReferralState {
    /// True when no further status change can happen.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ReferralState::Declined(_)
                | ReferralState::Closed(_)
                | ReferralState::Withdrawn
                | ReferralState::ConsentWithdrawn
                | ReferralState::Expired
        )
    }

    /// True while the recipient has not answered.
    pub fn awaits_answer(self) -> bool {
        matches!(self, ReferralState::Sent | ReferralState::Delivered)
    }

    /// True once the recipient has taken the client on and before the end.
    fn is_taken_on(self) -> bool {
        matches!(
            self,
            ReferralState::Accepted
                | ReferralState::HandoverProposed { .. }
                | ReferralState::HandoverScheduled
                | ReferralState::HandoverDone
                | ReferralState::InProgress
        )
    }

    /// A stable machine name (`handover_scheduled`, `declined`, ...), for filters and APIs.
    pub fn name(self) -> &'static str {
        match self {
            ReferralState::Sent => "sent",
            ReferralState::Delivered => "delivered",
            ReferralState::Accepted => "accepted",
            ReferralState::HandoverProposed { .. } => "handover_proposed",
            ReferralState::HandoverScheduled => "handover_scheduled",
            ReferralState::HandoverDone => "handover_done",
            ReferralState::InProgress => "in_progress",
            ReferralState::Declined(_) => "declined",
            ReferralState::Closed(_) => "closed",
            ReferralState::Withdrawn => "withdrawn",
            ReferralState::ConsentWithdrawn => "consent_withdrawn",
            ReferralState::Expired => "expired",
        }
    }
}

/// Something that happens to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The recipient's node stored the referral.
    Delivered,
    /// The recipient takes the client on. If the referral itself proposed handover slots,
    /// the handover then waits for the recipient's confirmation of one of them.
    Accept {
        /// The referral carried a handover proposal from the sender.
        sender_proposed_handover: bool,
    },
    /// The recipient declines.
    Decline(DeclineReason),
    /// One side proposes handover slots (or new ones).
    ProposeHandover,
    /// The other side confirms one proposed slot.
    ConfirmHandover,
    /// The handover meeting took place.
    HandoverDone,
    /// The recipient reports progress ("Rückmeldung").
    StatusUpdate,
    /// Either side adds a note; the status does not change.
    Note,
    /// The work ends with an outcome.
    Close(Outcome),
    /// The sender withdraws the referral.
    Withdraw,
    /// The client withdrew consent (recorded at the sender).
    WithdrawConsent,
    /// No answer in time.
    Expire,
}

impl Event {
    /// A stable machine name, for messages and APIs.
    pub fn name(self) -> &'static str {
        match self {
            Event::Delivered => "delivered",
            Event::Accept { .. } => "accept",
            Event::Decline(_) => "decline",
            Event::ProposeHandover => "propose_handover",
            Event::ConfirmHandover => "confirm_handover",
            Event::HandoverDone => "handover_done",
            Event::StatusUpdate => "status_update",
            Event::Note => "note",
            Event::Close(_) => "close",
            Event::Withdraw => "withdraw",
            Event::WithdrawConsent => "withdraw_consent",
            Event::Expire => "expire",
        }
    }

    /// The side that may cause this event, if only one may.
    pub fn required_side(self) -> Option<Side> {
        match self {
            Event::Delivered | Event::Accept { .. } | Event::Decline(_) | Event::StatusUpdate => {
                Some(Side::Receiver)
            }
            Event::Withdraw | Event::WithdrawConsent | Event::Expire => Some(Side::Sender),
            Event::ProposeHandover
            | Event::ConfirmHandover
            | Event::HandoverDone
            | Event::Note
            | Event::Close(_) => None,
        }
    }
}

/// Why a transition is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The referral has ended.
    #[error("the referral has ended ({}); '{}' is no longer possible", .state.name(), .event.name())]
    Ended {
        /// The terminal state.
        state: ReferralState,
        /// The event tried.
        event: Event,
    },
    /// Only the other side may do this.
    #[error("only the {} side may '{}'", match .required { Side::Sender => "sending", Side::Receiver => "receiving" }, .event.name())]
    WrongSide {
        /// The event tried.
        event: Event,
        /// The side that may do it.
        required: Side,
    },
    /// The event does not fit the current state.
    #[error("'{}' is not possible while the referral is '{}'", .event.name(), .state.name())]
    NotAllowed {
        /// The current state.
        state: ReferralState,
        /// The event tried.
        event: Event,
    },
    /// A side tried to confirm its own proposal.
    #[error(
        "a handover proposal must be confirmed by the other agency, not by the one that proposed it"
    )]
    OwnProposal,
}

/// The one transition function: where `state` goes when `actor` causes `event`.
pub fn transition(
    state: ReferralState,
    event: Event,
    actor: Side,
) -> Result<ReferralState, TransitionError> {
    use ReferralState as S;

    if let Some(required) = event.required_side()
        && required != actor
    {
        return Err(TransitionError::WrongSide { event, required });
    }
    if state.is_terminal() {
        // Consent withdrawal after the end still erases the data; the status stays.
        return match (state, event) {
            // A late delivery receipt changes nothing.
            (_, Event::Delivered) => Ok(state),
            (S::ConsentWithdrawn, _) => Err(TransitionError::Ended { state, event }),
            (_, Event::WithdrawConsent) => Ok(state),
            _ => Err(TransitionError::Ended { state, event }),
        };
    }
    let not_allowed = Err(TransitionError::NotAllowed { state, event });
    match event {
        Event::Delivered => Ok(if state == S::Sent {
            S::Delivered
        } else {
            state
        }),
        Event::Accept {
            sender_proposed_handover,
        } => {
            if !state.awaits_answer() {
                return not_allowed;
            }
            Ok(if sender_proposed_handover {
                S::HandoverProposed { by: Side::Sender }
            } else {
                S::Accepted
            })
        }
        Event::Decline(reason) if state.awaits_answer() => Ok(S::Declined(reason)),
        Event::ProposeHandover
            if matches!(
                state,
                S::Accepted | S::HandoverProposed { .. } | S::HandoverScheduled
            ) =>
        {
            Ok(S::HandoverProposed { by: actor })
        }
        Event::ConfirmHandover => match state {
            S::HandoverProposed { by } if by == actor => Err(TransitionError::OwnProposal),
            S::HandoverProposed { .. } => Ok(S::HandoverScheduled),
            _ => not_allowed,
        },
        Event::HandoverDone if state == S::HandoverScheduled => Ok(S::HandoverDone),
        Event::StatusUpdate => match state {
            S::HandoverDone | S::InProgress => Ok(S::InProgress),
            s if s.is_taken_on() => Ok(s),
            _ => not_allowed,
        },
        Event::Note => Ok(state),
        Event::Close(outcome) if state.is_taken_on() => Ok(S::Closed(outcome)),
        Event::Withdraw => Ok(S::Withdrawn),
        Event::WithdrawConsent => Ok(S::ConsentWithdrawn),
        Event::Expire if state.awaits_answer() => Ok(S::Expired),
        _ => not_allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralState as S;

    fn go(s: ReferralState, steps: &[(Event, Side)]) -> ReferralState {
        steps.iter().fold(s, |s, (e, side)| {
            transition(s, *e, *side).unwrap_or_else(|err| panic!("{s:?} --{e:?}--> {err}"))
        })
    }

    #[test]
    fn warm_handover_path() {
        let end = go(
            S::Sent,
            &[
                (Event::Delivered, Side::Receiver),
                (
                    Event::Accept {
                        sender_proposed_handover: false,
                    },
                    Side::Receiver,
                ),
                (Event::ProposeHandover, Side::Receiver),
                (Event::ConfirmHandover, Side::Sender),
                (Event::HandoverDone, Side::Receiver),
                (Event::StatusUpdate, Side::Receiver),
                (Event::Note, Side::Sender),
                (Event::Close(Outcome::GoalsMet), Side::Receiver),
            ],
        );
        assert_eq!(end, S::Closed(Outcome::GoalsMet));
    }

    #[test]
    fn sender_proposal_in_referral_is_confirmed_by_receiver() {
        let s = go(
            S::Delivered,
            &[(
                Event::Accept {
                    sender_proposed_handover: true,
                },
                Side::Receiver,
            )],
        );
        assert_eq!(s, S::HandoverProposed { by: Side::Sender });
        assert_eq!(
            transition(s, Event::ConfirmHandover, Side::Sender),
            Err(TransitionError::OwnProposal)
        );
        assert_eq!(
            transition(s, Event::ConfirmHandover, Side::Receiver),
            Ok(S::HandoverScheduled)
        );
    }

    #[test]
    fn wrong_side_and_wrong_state_are_named() {
        let accept = Event::Accept {
            sender_proposed_handover: false,
        };
        assert_eq!(
            transition(S::Delivered, accept, Side::Sender),
            Err(TransitionError::WrongSide {
                event: accept,
                required: Side::Receiver
            })
        );
        assert!(matches!(
            transition(S::Delivered, Event::HandoverDone, Side::Receiver),
            Err(TransitionError::NotAllowed { .. })
        ));
        assert!(matches!(
            transition(S::Withdrawn, accept, Side::Receiver),
            Err(TransitionError::Ended { .. })
        ));
        let msg = transition(S::Delivered, accept, Side::Sender)
            .unwrap_err()
            .to_string();
        assert_eq!(msg, "only the receiving side may 'accept'");
    }

    #[test]
    fn decline_expire_withdraw_and_consent() {
        assert_eq!(
            transition(
                S::Delivered,
                Event::Decline(DeclineReason::NoCapacity),
                Side::Receiver
            ),
            Ok(S::Declined(DeclineReason::NoCapacity))
        );
        assert_eq!(
            transition(S::Sent, Event::Expire, Side::Sender),
            Ok(S::Expired)
        );
        assert!(transition(S::Accepted, Event::Expire, Side::Sender).is_err());
        assert_eq!(
            transition(S::InProgress, Event::Withdraw, Side::Sender),
            Ok(S::Withdrawn)
        );
        assert_eq!(
            transition(S::InProgress, Event::WithdrawConsent, Side::Sender),
            Ok(S::ConsentWithdrawn)
        );
        // After the end, consent withdrawal keeps the status (erasure runs beside it).
        let closed = S::Closed(Outcome::Released);
        assert_eq!(
            transition(closed, Event::WithdrawConsent, Side::Sender),
            Ok(closed)
        );
        assert!(transition(S::ConsentWithdrawn, Event::WithdrawConsent, Side::Sender).is_err());
    }
}
