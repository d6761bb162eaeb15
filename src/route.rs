//! The console's routes: one enum, so links and the router cannot disagree.

/// A page of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Environments, breakers and latest changes at a glance.
    Overview,
    /// Services, searchable, with deleted ones apart.
    Services,
    /// One service: its config form per environment, and its history.
    Service(String),
    /// Feature flags and rollouts.
    Flags,
    /// The circuit-breaker board.
    Breakers,
    /// Which cluster runs which revision.
    Fleet,
    /// Change requests: those awaiting the user's review first.
    Reviews,
    /// The change log.
    Audit,
    /// People and machines: users and tokens (admins of every service).
    People,
    /// The service-document editor with live validation.
    Editor,
}

impl Route {
    /// The pages in navigation order.
    pub const NAV: [Self; 9] = [
        Self::Overview,
        Self::Services,
        Self::Flags,
        Self::Breakers,
        Self::Fleet,
        Self::Reviews,
        Self::Audit,
        Self::Editor,
        Self::People,
    ];

    /// Whether only admins of every service may use it: the navigation
    /// shows it to them alone (the server refuses everyone else anyway).
    pub fn admin_only(&self) -> bool {
        matches!(self, Self::People)
    }

    /// The first path segment (empty for the overview); a service page is
    /// `services/<name>`.
    pub fn segment(&self) -> &'static str {
        match self {
            Self::Overview => "",
            Self::Services | Self::Service(_) => "services",
            Self::Flags => "flags",
            Self::Breakers => "breakers",
            Self::Fleet => "fleet",
            Self::Reviews => "reviews",
            Self::Audit => "audit",
            Self::Editor => "editor",
            Self::People => "people",
        }
    }

    /// The name of the parameter after [`Route::segment`], for the router.
    pub const SERVICE_PARAM: &'static str = "service";

    /// The absolute path, for links.
    pub fn href(&self) -> String {
        match self {
            Self::Service(name) => format!("/services/{}", encode(name)),
            other => format!("/{}", other.segment()),
        }
    }

    /// A flag's own page, in one environment or none: the Flags page with
    /// what to show in its address, as links from other pages give it.
    pub fn flag(service: &str, key: &str, environment: Option<&str>) -> String {
        let mut href = format!(
            "{}?service={}&flag={}",
            Self::Flags.href(),
            encode(service),
            encode(key)
        );
        if let Some(environment) = environment {
            href.push_str("&environment=");
            href.push_str(&encode(environment));
        }
        href
    }

    /// The name shown in navigation and page titles.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Services | Self::Service(_) => "Services",
            Self::Flags => "Flags",
            Self::Breakers => "Breakers",
            Self::Fleet => "Fleet",
            Self::Reviews => "Reviews",
            Self::Audit => "Audit",
            Self::Editor => "Document editor",
            Self::People => "People",
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// path segment or a query value.
pub fn encode(text: &str) -> String {
    use std::fmt::Write;

    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Route, encode};

    #[test]
    fn service_paths_are_encoded() {
        assert_eq!(
            Route::Service("checkout".into()).href(),
            "/services/checkout"
        );
        assert_eq!(encode("a b/ü?&"), "a%20b%2F%C3%BC%3F%26");
    }

    #[test]
    fn every_nav_route_has_a_distinct_path() {
        let mut paths: Vec<String> = Route::NAV.iter().map(Route::href).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), Route::NAV.len());
        assert_eq!(Route::Overview.href(), "/");
        assert_eq!(Route::Editor.href(), "/editor");
        assert_eq!(
            Route::flag("check out", "new-flow", Some("prod")),
            "/flags?service=check%20out&flag=new-flow&environment=prod"
        );
        assert_eq!(Route::flag("a", "b", None), "/flags?service=a&flag=b");
    }
}
