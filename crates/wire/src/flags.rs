//! The flags overview: every flag a principal may see, across services,
//! with what it serves in each environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use setpoint_core::{Serve, rollout::RolloutState};

/// One flag of one service, as `GET /api/v1/flags` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlagLine {
    /// The service it belongs to.
    pub service: String,
    /// The flag's key.
    pub key: String,
    /// What it gates.
    #[serde(default)]
    pub description: String,
    /// The service's owners: who to ask about it.
    #[serde(default)]
    pub owners: Vec<String>,
    /// The service's revision: the base of an edit made from the list.
    pub revision: u64,
    /// The variant served where the flag is disabled or not targeted.
    pub off: String,
    /// Its targeting in each environment the reader sees that has any;
    /// an environment absent here serves `off`.
    #[serde(default)]
    pub environments: BTreeMap<String, Targeting>,
    /// Its latest change the reader may see: a write of the flag, or a
    /// step of one of its rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Stamp>,
}

/// A flag's targeting in one environment, summed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Targeting {
    /// Whether targeting runs (when not, `off` is served).
    pub enabled: bool,
    /// How many rules come before the default.
    pub rules: usize,
    /// What everyone no rule matches gets: a variant or a split.
    pub default: Serve,
    /// Where a progressive rollout of the flag stands, if one was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutState>,
}

impl Targeting {
    /// What it serves everyone no rule matches, in a few words: `on`,
    /// `on 25 %` (the largest share that is not `off`), `off`
    /// (`disabled`) when targeting does not run.
    pub fn served(&self, off: &str) -> String {
        if !self.enabled {
            return format!("{off} (disabled)");
        }
        match &self.default {
            Serve::Variant(variant) => variant.clone(),
            Serve::Split(split) => {
                let mut shares: Vec<_> = split.weights.iter().filter(|w| w.weight > 0).collect();
                shares.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.variant.cmp(&b.variant)));
                match shares.iter().find(|w| w.variant != off) {
                    Some(lead) if lead.weight < 100 => {
                        format!("{} {} %", lead.variant, lead.weight)
                    }
                    Some(lead) => lead.variant.clone(),
                    None => off.to_string(),
                }
            }
        }
    }
}

/// Who changed something last, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stamp {
    /// The change's revision.
    pub revision: u64,
    /// Who made it: a user, a token, `setpoint` for a timer, or an alert.
    pub actor: String,
    /// When, as RFC 3339.
    pub at: String,
    /// Why, in the actor's words.
    #[serde(default)]
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use setpoint_core::{Serve, Split, Weighted};

    use super::Targeting;

    fn split(weights: &[(&str, u32)]) -> Targeting {
        Targeting {
            enabled: true,
            rules: 0,
            default: Serve::Split(Split {
                weights: weights
                    .iter()
                    .map(|(variant, weight)| Weighted {
                        variant: (*variant).into(),
                        weight: *weight,
                    })
                    .collect(),
                bucket_by: None,
            }),
            rollout: None,
        }
    }

    #[test]
    fn a_split_reads_as_the_share_of_what_is_not_off() {
        assert_eq!(split(&[("off", 75), ("on", 25)]).served("off"), "on 25 %");
        assert_eq!(split(&[("on", 60), ("off", 40)]).served("off"), "on 60 %");
        assert_eq!(
            split(&[("off", 50), ("blue", 30), ("green", 20)]).served("off"),
            "blue 30 %",
            "the largest share that is not off leads"
        );
        assert_eq!(split(&[("off", 100), ("on", 0)]).served("off"), "off");
        assert_eq!(split(&[("on", 100)]).served("off"), "on");
    }

    #[test]
    fn disabled_targeting_serves_off_whatever_it_holds() {
        let mut targeting = split(&[("on", 100)]);
        targeting.enabled = false;
        assert_eq!(targeting.served("off"), "off (disabled)");
        targeting.enabled = true;
        targeting.default = Serve::Variant("dark".into());
        assert_eq!(targeting.served("light"), "dark");
    }
}
