//! The browser's clock, read in one place: the core takes time as
//! milliseconds since the epoch and has no clock of its own.

/// Now, in milliseconds since the epoch.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a browser's clock in milliseconds is whole and far inside i64"
)]
pub fn now_millis() -> i64 {
    web_sys::js_sys::Date::now() as i64
}
