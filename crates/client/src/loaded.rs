//! A snapshot checked against the registration and made ready to read:
//! every registered key converted to its type once, every flag prepared
//! once (patterns compiled, versions parsed, splits summed). Reads then
//! only index into it.

use std::{sync::Arc, time::SystemTime};

use serde_json::Value;
use setpoint_core::{ServiceSnapshot, eval::PreparedFlag, snapshot::verify_checksum};

use crate::{
    Rejection,
    registry::{Registration, Slot},
};

/// Where a loaded snapshot came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub revision: u64,
    pub checksum: String,
    pub environment: String,
    pub loaded_at: SystemTime,
    pub source: Arc<str>,
}

/// What reads read: a checked snapshot, or the registered defaults.
pub(crate) struct Loaded {
    /// `None` for the defaults.
    pub origin: Option<Origin>,
    /// The service as the snapshot has it (`None` for the defaults).
    pub service: Option<ServiceSnapshot>,
    /// Registered keys' values, by the keys' slots.
    pub values: Vec<Slot>,
    /// Every flag of the service, by name.
    pub flags: Vec<(String, PreparedFlag)>,
    /// Registered flags' places in `flags`, by the flags' slots.
    pub registered: Vec<usize>,
    /// Registered breakers' `open`, by the breakers' slots.
    pub breakers: Vec<bool>,
}

/// The longest JSON quoted in a rejection.
const QUOTED: usize = 80;

impl Loaded {
    /// Before any snapshot: every key at its default, no flag (flags serve
    /// their defaults), every breaker closed.
    pub fn defaults(registration: &Registration) -> Self {
        Self {
            origin: None,
            service: None,
            values: registration
                .keys
                .iter()
                .map(|k| k.default.clone())
                .collect(),
            flags: Vec::new(),
            registered: Vec::new(),
            breakers: vec![false; registration.breakers.len()],
        }
    }

    /// Verifies `bytes`, takes the registered service out of them and
    /// checks it against the registration: all of it, or nothing.
    pub fn check(
        registration: &Registration,
        bytes: &[u8],
        source: Arc<str>,
        loaded_at: SystemTime,
    ) -> Result<Self, Rejection> {
        let (mut snapshot, checksum) = verify_checksum(bytes)?;
        if let Some(expected) = &registration.environment
            && *expected != snapshot.environment
        {
            return Err(Rejection::Environment {
                expected: expected.clone(),
                found: snapshot.environment,
            });
        }
        let service = snapshot
            .services
            .remove(&registration.service)
            .ok_or_else(|| Rejection::Service(registration.service.clone()))?;

        let values = registration
            .keys
            .iter()
            .map(|key| {
                let value = service
                    .config
                    .get(&*key.name)
                    .ok_or_else(|| Rejection::Missing {
                        kind: "key",
                        name: key.name.to_string(),
                    })?;
                (key.convert)(value).ok_or_else(|| Rejection::Type {
                    kind: "key",
                    name: key.name.to_string(),
                    expected: (key.expected)(),
                    found: quote(value),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let flags: Vec<(String, PreparedFlag)> = service
            .flags
            .iter()
            .map(|(name, flag)| (name.clone(), PreparedFlag::new(flag)))
            .collect();
        let registered = registration
            .flags
            .iter()
            .map(|entry| {
                let index = flags
                    .binary_search_by(|(name, _)| name.as_str().cmp(&entry.name))
                    .map_err(|_| Rejection::Missing {
                        kind: "flag",
                        name: entry.name.to_string(),
                    })?;
                if let Some((_, value)) = flags[index].1.variants().find(|(_, v)| !(entry.fits)(v))
                {
                    return Err(Rejection::Type {
                        kind: "flag",
                        name: entry.name.to_string(),
                        expected: (entry.expected)(),
                        found: quote(value),
                    });
                }
                Ok(index)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let breakers = registration
            .breakers
            .iter()
            .map(|name| {
                service
                    .breakers
                    .get(&**name)
                    .map(|b| b.open)
                    .ok_or_else(|| Rejection::Missing {
                        kind: "breaker",
                        name: name.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Self {
            origin: Some(Origin {
                revision: snapshot.revision,
                checksum,
                environment: snapshot.environment,
                loaded_at,
                source,
            }),
            service: Some(service),
            values,
            flags,
            registered,
            breakers,
        })
    }

    /// The revision, 0 for the defaults.
    pub fn revision(&self) -> u64 {
        self.origin.as_ref().map_or(0, |o| o.revision)
    }

    /// A flag of the service by name.
    pub fn flag(&self, name: &str) -> Option<&PreparedFlag> {
        self.flags
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.flags[i].1)
    }
}

fn quote(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= QUOTED {
        return text;
    }
    let cut = (0..=QUOTED)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}
