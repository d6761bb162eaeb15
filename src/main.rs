//! Entry point: mounts the console on `<body>`.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(setpoint_console::App);
}
