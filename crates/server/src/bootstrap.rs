//! First start: the initial admin, and (with `--demo`) demo data.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use setpoint_core::{
    ServiceDoc,
    breaker::{Alert, AlertStatus},
    time::format_timestamp,
};

use crate::{
    auth::{Role, hash_password, new_secret},
    engine::{Engine, now_millis},
    store::{AccountWrite, Backend, Store, User, record_offline},
    world::{AlertScope, BreakerOp, Command},
};

/// Where a generated admin password is kept, like Jenkins'
/// `initialAdminPassword`, until someone changes it.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Creates or resets a user in a store no server runs on, and logs it.
pub async fn put_user(
    store: &dyn Store,
    username: &str,
    password: &str,
    role: Role,
    services: Option<Vec<String>>,
    actor: &str,
) -> std::io::Result<()> {
    let password = password.to_string();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(std::io::Error::other)?;
    let at = format_timestamp(now_millis());
    let user = User {
        username: username.to_string(),
        password_hash,
        role,
        services,
        created_at: at.clone(),
    };
    record_offline(store, AccountWrite::PutUser(user), actor, &at)
        .await
        .map(drop)
        .map_err(std::io::Error::other)
}

/// With no users at all, creates `admin` with `SETPOINT_ADMIN_PASSWORD`, or
/// with a generated password that is printed once and kept in
/// `<data>/initial-admin-password` (readable by the owner only).
pub async fn ensure_admin(store: &dyn Backend, data: &Path) -> std::io::Result<()> {
    if store.user_count().await.map_err(std::io::Error::other)? > 0 {
        return Ok(());
    }
    let (password, generated) = match std::env::var("SETPOINT_ADMIN_PASSWORD") {
        Ok(password) if password.chars().count() >= 12 => (password, false),
        Ok(_) => {
            return Err(std::io::Error::other(
                "SETPOINT_ADMIN_PASSWORD needs at least 12 characters",
            ));
        }
        Err(_) => (new_secret()[..24].to_string(), true),
    };
    if let Err(error) = put_user(store, "admin", &password, Role::Admin, None, "setpoint").await {
        // Replicas starting together on an empty database race to create
        // the admin; one wins, and the others keep its password.
        if store.user_count().await.map_err(std::io::Error::other)? > 0 {
            return Ok(());
        }
        return Err(error);
    }
    if generated {
        let file = data.join(INITIAL_PASSWORD_FILE);
        write_private(&file, &format!("{password}\n"))?;
        println!(
            "Created user admin with password {password} (also in {})",
            file.display()
        );
    } else {
        println!("Created user admin with the password from SETPOINT_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Writes a secret to a new file that only its owner can read — from the
/// moment it exists, not after a `chmod` another user could race.
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    // A file left by an earlier start holds an old password.
    match std::fs::remove_file(file) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()
}

/// The demo services, as service documents.
pub const DEMO_SERVICES: [&str; 6] = [
    include_str!("../../../examples/checkout.json"),
    include_str!("../demo/search.json"),
    include_str!("../demo/payments-gateway.json"),
    include_str!("../demo/recommendations.json"),
    include_str!("../demo/notifications.json"),
    include_str!("../demo/inventory.json"),
];

/// Seeds `dev`, `staging`, `prod` and the demo services into an empty store.
/// A store that already has environments is left alone.
pub async fn seed_demo(engine: &Arc<Engine>) -> std::io::Result<()> {
    if !engine.world().environments.is_empty() {
        return Ok(());
    }
    let write = |command| async move {
        engine
            .write(command, "setpoint", "demo data")
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
    };
    for (name, description) in [
        ("dev", "Developers' shared environment"),
        ("staging", "Pre-production, mirrors prod"),
        ("prod", "Production"),
    ] {
        write(Command::CreateEnvironment {
            name: name.into(),
            description: description.into(),
        })
        .await?;
    }
    for text in DEMO_SERVICES {
        let doc: ServiceDoc = serde_json::from_str(text).map_err(std::io::Error::other)?;
        write(Command::CreateService { doc }).await?;
    }
    // A board with something on it: one breaker opened by an alert, one
    // tripped by hand.
    let now = now_millis();
    let alert = Alert {
        fingerprint: "demo0adyen0prod".into(),
        status: AlertStatus::Firing,
        labels: BTreeMap::from([
            ("alertname".into(), "ProviderErrorRate".into()),
            ("provider".into(), "adyen".into()),
            ("environment".into(), "prod".into()),
            ("severity".into(), "page".into()),
        ]),
        annotations: BTreeMap::from([(
            "summary".into(),
            "Adyen authorisations failing above 5% for 10 minutes".into(),
        )]),
        starts_at: format_timestamp(now - 15 * 60_000),
        generator_url: "http://prometheus.example:9090/graph?g0.expr=provider_error_rate".into(),
    };
    engine
        .write_all(
            vec![Command::Alerts {
                alerts: vec![alert],
                receiver: "demo".into(),
                scope: AlertScope::default(),
            }],
            "token:demo-alertmanager",
            "",
        )
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    engine
        .write(
            Command::OperateBreaker {
                service: "notifications".into(),
                name: "sms-provider".into(),
                environment: "staging".into(),
                op: BreakerOp::Trip,
            },
            "user:admin",
            "SMS provider sandbox is down for maintenance until Monday",
        )
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    tracing::info!("seeded demo data");
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_secret_file_is_private_from_its_creation_and_replaces_an_old_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join(INITIAL_PASSWORD_FILE);
        std::fs::write(&file, "old\n").expect("an old file");
        write_private(&file, "new\n").expect("written");
        let mode = std::fs::metadata(&file)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("reads"), "new\n");
    }
}
