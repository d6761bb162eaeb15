//! Reusable pieces, each with documented props.

mod diff_list;
mod problem_list;
mod text_field;

pub use diff_list::{DiffList, DiffRow, display};
pub use problem_list::ProblemList;
pub use text_field::TextField;
