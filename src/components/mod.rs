//! Reusable pieces, each with documented props.

mod apply_at;
mod diff_list;
mod failed;
mod key_input;
mod outcome;
mod problem_list;
mod reasoned;
mod text_field;

pub use apply_at::{ApplyAt, apply_at};
pub use diff_list::{DiffList, DiffRow, display};
pub use failed::Failed;
pub use key_input::{Edit, Wiring, input_for, kind_name, parse_number};
pub use outcome::{Outcome, OutcomeLine};
pub use problem_list::ProblemList;
pub use reasoned::ReasonedButton;
pub use text_field::TextField;
