//! Entry point: mounts the console on `<body>`.

fn main() {
    // A panic leaves the wasm instance unusable. Besides the browser
    // console's message, tell the person on the page: the likeliest cause
    // is a page module that no longer exists because Setpoint was upgraded
    // while the tab was open, and a reload fixes that.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        setpoint_console::stopped();
    }));
    leptos::mount::mount_to_body(setpoint_console::App);
}
