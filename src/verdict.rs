//! The shared vocabulary of judgement, below every stage that uses it: a verdict, as a condition's status says it,
//! and a problem — input continuo cannot act on, with its reason and message.

/// Input continuo cannot act on. Children are left exactly as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
}

/// A problem with its reason and message.
pub fn problem(reason: &'static str, message: impl Into<String>) -> Problem {
    Problem { reason, message: message.into() }
}

/// Tri-state, as in conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Feasible,
    NotFeasible,
    Unknown,
}

impl Verdict {
    pub fn as_status(&self) -> &'static str {
        match self {
            Verdict::Feasible => "True",
            Verdict::NotFeasible => "False",
            Verdict::Unknown => "Unknown",
        }
    }

    /// As verdict messages say it.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Feasible => "feasible",
            Verdict::NotFeasible => "not feasible",
            Verdict::Unknown => "not verified",
        }
    }
}
