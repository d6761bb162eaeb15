//! Reusable pieces, each with documented props.

mod problem_list;

pub use problem_list::ProblemList;
