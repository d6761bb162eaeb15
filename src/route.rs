//! The console's routes: one enum, so links and the router cannot disagree.

/// A page of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Environments, breakers and latest changes at a glance.
    Overview,
    /// Services and their config.
    Services,
    /// Feature flags and rollouts.
    Flags,
    /// The circuit-breaker board.
    Breakers,
    /// The change log.
    Audit,
    /// The service-document editor with live validation.
    Editor,
}

impl Route {
    /// The pages in navigation order.
    pub const NAV: [Self; 6] = [
        Self::Overview,
        Self::Services,
        Self::Flags,
        Self::Breakers,
        Self::Audit,
        Self::Editor,
    ];

    /// The path segment after `/` (empty for the overview).
    pub fn segment(self) -> &'static str {
        match self {
            Self::Overview => "",
            Self::Services => "services",
            Self::Flags => "flags",
            Self::Breakers => "breakers",
            Self::Audit => "audit",
            Self::Editor => "editor",
        }
    }

    /// The absolute path, for links.
    pub fn href(self) -> String {
        format!("/{}", self.segment())
    }

    /// The name shown in navigation and page titles.
    pub fn label(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Services => "Services",
            Self::Flags => "Flags",
            Self::Breakers => "Breakers",
            Self::Audit => "Audit",
            Self::Editor => "Document editor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Route;

    #[test]
    fn every_route_has_a_distinct_path() {
        let mut paths: Vec<String> = Route::NAV.iter().map(|r| r.href()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), Route::NAV.len());
        assert_eq!(Route::Overview.href(), "/");
        assert_eq!(Route::Editor.href(), "/editor");
    }
}
