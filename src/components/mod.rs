//! Reusable pieces, each with documented props.

mod diff_list;
mod problem_list;

pub use diff_list::{DiffList, DiffRow, display};
pub use problem_list::ProblemList;
