//! What the application declared it reads: keys and flags with typed
//! defaults, and breakers — and the handles that read them.
//!
//! A handle ([`Key`], [`Flag`], [`Breaker`]) is returned by the builder
//! when the name is registered. It carries the type (so a read cannot ask
//! for the wrong one), the default, and the slot the value sits in, so a
//! read is an index, not a lookup by name.

use std::{
    any::{Any, TypeId},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use serde_json::Value;

use crate::setting::Setting;

/// A value held type-erased in a snapshot's slot; its handle knows the type.
pub(crate) type Slot = Arc<dyn Any + Send + Sync>;

/// A registered config key, read as `T`.
#[derive(Debug, Clone)]
pub struct Key<T> {
    pub(crate) index: usize,
    pub(crate) client: u64,
    pub(crate) default: T,
    name: Arc<str>,
}

/// A registered flag, whose variants are `T`.
#[derive(Debug, Clone)]
pub struct Flag<T> {
    pub(crate) index: usize,
    pub(crate) client: u64,
    pub(crate) default: T,
    name: Arc<str>,
}

/// A registered breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    pub(crate) index: usize,
    pub(crate) client: u64,
    name: Arc<str>,
}

impl<T> Key<T> {
    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Flag<T> {
    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Breaker {
    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Key<T> {
    /// The compiled default, read until a snapshot arrives.
    pub fn default_value(&self) -> &T {
        &self.default
    }
}

impl<T> Flag<T> {
    /// The compiled default, served until a snapshot arrives and on error.
    pub fn default_value(&self) -> &T {
        &self.default
    }
}

/// One registered key: how to check and convert its value.
pub(crate) struct KeyEntry {
    pub name: Arc<str>,
    pub type_id: TypeId,
    pub type_name: &'static str,
    pub default: Slot,
    pub convert: fn(&Value) -> Option<Slot>,
    pub expected: fn() -> String,
}

/// One registered flag: how to check its variants.
pub(crate) struct FlagEntry {
    pub name: Arc<str>,
    pub fits: fn(&Value) -> bool,
    pub expected: fn() -> String,
}

/// Everything the application declared, fixed once the client is built.
pub(crate) struct Registration {
    /// Tells this client's handles from another's.
    pub id: u64,
    pub service: String,
    pub environment: Option<String>,
    pub keys: Vec<KeyEntry>,
    pub flags: Vec<FlagEntry>,
    pub breakers: Vec<Arc<str>>,
}

fn convert<T: Setting>(value: &Value) -> Option<Slot> {
    T::from_json(value).map(|v| Arc::new(v) as Slot)
}

fn fits<T: Setting>(value: &Value) -> bool {
    T::from_json(value).is_some()
}

impl Registration {
    pub fn new(service: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            service: service.to_owned(),
            environment: None,
            keys: Vec::new(),
            flags: Vec::new(),
            breakers: Vec::new(),
        }
    }

    /// Whether `name` is already registered as `kind`.
    pub fn has(&self, kind: &str, name: &str) -> bool {
        match kind {
            "key" => self.keys.iter().any(|k| &*k.name == name),
            "flag" => self.flags.iter().any(|f| &*f.name == name),
            _ => self.breakers.iter().any(|b| &**b == name),
        }
    }

    pub fn key<T: Setting>(&mut self, name: &str, default: T) -> Key<T> {
        let name: Arc<str> = name.into();
        self.keys.push(KeyEntry {
            name: name.clone(),
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            default: Arc::new(default.clone()),
            convert: convert::<T>,
            expected: T::expected,
        });
        Key {
            index: self.keys.len() - 1,
            client: self.id,
            default,
            name,
        }
    }

    pub fn flag<T: Setting>(&mut self, name: &str, default: T) -> Flag<T> {
        let name: Arc<str> = name.into();
        self.flags.push(FlagEntry {
            name: name.clone(),
            fits: fits::<T>,
            expected: T::expected,
        });
        Flag {
            index: self.flags.len() - 1,
            client: self.id,
            default,
            name,
        }
    }

    pub fn breaker(&mut self, name: &str) -> Breaker {
        let name: Arc<str> = name.into();
        self.breakers.push(name.clone());
        Breaker {
            index: self.breakers.len() - 1,
            client: self.id,
            name,
        }
    }

    /// The slot of the key called `name`, if it was registered as `T`.
    pub fn slot_of<T: Setting>(&self, name: &str) -> Result<usize, crate::ReadError> {
        let index = self
            .keys
            .iter()
            .position(|k| &*k.name == name)
            .ok_or_else(|| crate::ReadError::Undeclared(name.to_owned()))?;
        let entry = &self.keys[index];
        if entry.type_id == TypeId::of::<T>() {
            Ok(index)
        } else {
            Err(crate::ReadError::WrongType {
                name: name.to_owned(),
                registered: entry.type_name,
                asked: std::any::type_name::<T>(),
            })
        }
    }
}
