//! Who is logged in, shared with every page: the navigation and each page
//! adapt to the role (a viewer sees no edit controls at all). The server
//! still enforces everything; this only keeps people from meeting a `403`.

use leptos::{prelude::*, task::spawn_local};

use crate::api::{self, ApiError, Me, Role};

/// Where the console stands with the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Asking `GET /api/v1/me`.
    Checking,
    /// No session: the login form shows.
    Anonymous,
    /// Logged in.
    User(Me),
    /// The server could not be reached.
    Unreachable(String),
}

/// The session, provided as context by the shell.
#[derive(Debug, Clone, Copy)]
pub struct Session(RwSignal<Auth>);

impl Session {
    /// A session that first asks the server who we are.
    pub fn start() -> Self {
        let auth = RwSignal::new(Auth::Checking);
        spawn_local(async move {
            auth.set(match api::me().await {
                Ok(me) => Auth::User(me),
                Err(error) if error.is_unauthenticated() => Auth::Anonymous,
                Err(error) => Auth::Unreachable(error.message),
            });
        });
        Self(auth)
    }

    /// The state, reactively.
    pub fn auth(self) -> Auth {
        self.0.get()
    }

    /// The logged-in user, reactively.
    pub fn me(self) -> Option<Me> {
        self.0.with(|auth| match auth {
            Auth::User(me) => Some(me.clone()),
            _ => None,
        })
    }

    /// Whether the user's role is at least `role` for `service`.
    pub fn may(self, role: Role, service: &str) -> bool {
        self.0
            .with(|auth| matches!(auth, Auth::User(me) if me.may(role, service)))
    }

    /// Whether the user is an admin of every service: who may manage
    /// people, tokens and environments.
    pub fn is_global_admin(self) -> bool {
        self.0.with(|auth| {
            matches!(auth, Auth::User(me) if me.role == Role::Admin && me.services.is_none())
        })
    }

    /// Records a successful login.
    pub fn logged_in(self, me: Me) {
        self.0.set(Auth::User(me));
    }

    /// Logs out, on the server and here.
    pub fn log_out(self) {
        spawn_local(async move {
            let _ = api::logout().await;
            self.0.set(Auth::Anonymous);
        });
    }

    /// Passes an error on, first noticing an ended session: the login form
    /// then replaces the page.
    pub fn check(self, error: ApiError) -> ApiError {
        if error.is_unauthenticated() {
            self.0.set(Auth::Anonymous);
        }
        error
    }
}

/// The session of the running console.
pub fn use_session() -> Session {
    expect_context::<Session>()
}
