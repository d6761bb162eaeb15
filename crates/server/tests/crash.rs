//! Durability with a real process: writes acknowledged before a `kill -9`
//! are all there after a restart, and the log still reproduces the state.

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::start_server;
use serde_json::{Value, json};

fn setpoint() -> Command {
    Command::new(env!("CARGO_BIN_EXE_setpoint"))
}

/// A minimal HTTP/1.1 exchange; returns status and JSON body.
fn call(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let json = response
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

type Acknowledged = Mutex<Vec<(String, u64, i64)>>;

/// Patches one key of `service` in `dev` over and over, recording every
/// acknowledged revision and value, until stopped or the server dies.
fn write_until_stopped(
    address: &str,
    token: &str,
    service: &str,
    acknowledged: &Acknowledged,
    stop: &AtomicBool,
) {
    let Ok((200, record)) = call(
        address,
        "GET",
        &format!("/api/v1/services/{service}"),
        token,
        None,
    ) else {
        return;
    };
    let mut base = record["revision"].as_u64().expect("revision");
    let key = match service {
        "notifications" => "sms.daily_cap",
        "inventory" => "low_stock.threshold",
        _ => "throttle.rps",
    };
    let mut n: i64 = 100;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let body = json!({"set": {key: n}, "base_revision": base, "reason": "crash test"});
        match call(
            address,
            "PATCH",
            &format!("/api/v1/services/{service}/values/dev"),
            token,
            Some(&body),
        ) {
            Ok((200, change)) => {
                base = change["revision"].as_u64().expect("revision");
                acknowledged
                    .lock()
                    .expect("lock")
                    .push((service.to_string(), base, n));
            }
            // The server died mid-request (no response, or an empty one):
            // not acknowledged.
            Err(_) | Ok((0, _)) => return,
            Ok((status, body)) => panic!("unexpected {status}: {body}"),
        }
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = setpoint()
        .args(["token", "create", "crash-test", "--role", "admin", "--data"])
        .arg(dir.path())
        .output()
        .expect("token create runs");
    assert!(output.status.success(), "{output:?}");
    let token = String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_string();

    let (mut server, address) = start_server(dir.path());
    let acknowledged: Arc<Acknowledged> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = ["checkout", "search", "inventory", "notifications"]
        .into_iter()
        .map(|service| {
            let (address, token, acknowledged, stop) = (
                address.clone(),
                token.clone(),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                write_until_stopped(&address, &token, service, &acknowledged, &stop);
            })
        })
        .collect();

    // Let the writers get going, then kill the server without warning.
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    while acknowledged.lock().expect("lock").len() < 40 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writers did not get 40 writes acknowledged in time"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.kill().expect("SIGKILL");
    server.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer thread");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let (mut server, address) = start_server(dir.path());
    for (service, revision, value) in &acknowledged {
        let (status, page) = call(
            &address,
            "GET",
            &format!("/api/v1/changes?service={service}&kind=values_changed&limit=500"),
            &token,
            None,
        )
        .expect("changes");
        assert_eq!(status, 200);
        let found = page["changes"]
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["revision"] == *revision);
        let found = found
            .unwrap_or_else(|| panic!("acknowledged revision {revision} of {service} is lost"));
        let key = found["after"]
            .as_object()
            .expect("values")
            .iter()
            .find(|(_, v)| v.as_i64() == Some(*value));
        assert!(key.is_some(), "revision {revision} holds {value}: {found}");
    }
    server.kill().expect("stop");
    server.wait().expect("reaped");

    let verify = setpoint()
        .arg("verify")
        .arg("--data")
        .arg(dir.path())
        .output()
        .expect("verify runs");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    println!(
        "{} acknowledged writes survived kill -9",
        acknowledged.len()
    );
}
