//! PriorityLevelConfiguration: defaulting and upstream's validation.

use corten_apimachinery::{ErrorList, FieldError, Path};
use k8s_openapi::api::flowcontrol::v1::{
    LimitResponse, LimitedPriorityLevelConfiguration, PriorityLevelConfiguration,
    PriorityLevelConfigurationStatus, QueuingConfiguration,
};

use super::bootstrap;
use crate::kind::{KindRules, KindStrategy};

/// Strategy for PriorityLevelConfiguration.
pub static PRIORITY_LEVEL_STRATEGY: KindStrategy<PriorityLevelRules> = KindStrategy::new();

/// What an unset `limited.nominalConcurrencyShares` becomes in v1.
const DEFAULT_NOMINAL_CONCURRENCY_SHARES: i32 = 30;
/// The most queues a priority level may have.
const MAX_QUEUES: i32 = 10_000_000;
/// The bits of hash shuffle sharding can use (upstream `MaxHashBits`).
const MAX_HASH_BITS: f64 = 60.0;

/// The rules of PriorityLevelConfiguration (upstream
/// `ValidatePriorityLevelConfiguration*`, v1 semantics: zero shares allowed).
pub struct PriorityLevelRules;

impl KindRules for PriorityLevelRules {
    type Object = PriorityLevelConfiguration;
    const NAMESPACED: bool = false;
    const TRACKS_GENERATION: bool = true;

    fn default(pl: &mut PriorityLevelConfiguration) {
        let Some(spec) = pl.spec.as_mut() else {
            return;
        };
        if let Some(limited) = spec.limited.as_mut() {
            limited
                .nominal_concurrency_shares
                .get_or_insert(DEFAULT_NOMINAL_CONCURRENCY_SHARES);
            limited.lendable_percent.get_or_insert(0);
            if let Some(q) = limited
                .limit_response
                .as_mut()
                .and_then(|r| r.queuing.as_mut())
            {
                default_queuing(q);
            }
        }
        if let Some(exempt) = spec.exempt.as_mut() {
            exempt.nominal_concurrency_shares.get_or_insert(0);
            exempt.lendable_percent.get_or_insert(0);
        }
    }

    fn validate(pl: &PriorityLevelConfiguration) -> ErrorList {
        let name = pl.metadata.name.as_deref().unwrap_or_default();
        let sp = Path::new("spec");
        let spec = pl.spec.clone().unwrap_or_default();
        let mut errs = Vec::new();
        if (name == "exempt") != (spec.type_ == "Exempt") {
            errs.push(FieldError::invalid(
                &sp.child("type"),
                spec.type_.as_str(),
                "type must be 'Exempt' if and only if name is 'exempt'",
            ));
        }
        match spec.type_.as_str() {
            "Exempt" => {
                if spec.limited.is_some() {
                    errs.push(FieldError::forbidden(
                        &sp.child("limited"),
                        "must be nil if the type is not Limited",
                    ));
                }
                if let Some(e) = &spec.exempt {
                    let ep = sp.child("exempt");
                    errs.extend(non_negative_shares(
                        e.nominal_concurrency_shares,
                        &ep.child("nominalConcurrencyShares"),
                    ));
                    errs.extend(percent(e.lendable_percent, &ep.child("lendablePercent")));
                }
            }
            "Limited" => {
                if spec.exempt.is_some() {
                    errs.push(FieldError::forbidden(
                        &sp.child("exempt"),
                        "must be nil if the type is Limited",
                    ));
                }
                match &spec.limited {
                    None => errs.push(FieldError::required(
                        &sp.child("limited"),
                        "must not be empty when type is Limited",
                    )),
                    Some(l) => errs.extend(validate_limited(l, &sp.child("limited"))),
                }
            }
            other => errs.push(FieldError::not_supported(
                &sp.child("type"),
                other,
                &["Exempt", "Limited"],
            )),
        }
        errs.extend(validate_mandatory(name, &spec, &sp));
        errs.extend(validate_status(pl.status.as_ref()));
        errs
    }

    fn validate_status_update(
        new: &PriorityLevelConfiguration,
        _old: &PriorityLevelConfiguration,
    ) -> ErrorList {
        validate_status(new.status.as_ref())
    }
}

fn default_queuing(q: &mut QueuingConfiguration) {
    for (field, default) in [
        (&mut q.hand_size, 8),
        (&mut q.queues, 64),
        (&mut q.queue_length_limit, 50),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(default);
        }
    }
}

/// The mandatory objects' specs are fixed, except `spec.exempt` of the
/// `exempt` level, which an administrator may tune.
fn validate_mandatory(
    name: &str,
    spec: &k8s_openapi::api::flowcontrol::v1::PriorityLevelConfigurationSpec,
    sp: &Path,
) -> ErrorList {
    let Some(mandatory) = bootstrap::mandatory_priority_level(name) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    if name == "exempt" {
        let msg =
            format!("spec of '{name}' except the 'spec.exempt' field must equal the fixed value");
        if spec.type_ != "Exempt" {
            errs.push(FieldError::invalid(
                &sp.child("type"),
                spec.type_.as_str(),
                &msg,
            ));
        }
        if let Some(l) = &spec.limited {
            errs.push(FieldError::invalid(
                &sp.child("limited"),
                serde_json::to_value(l).unwrap_or_default(),
                &msg,
            ));
        }
        return errs;
    }
    let got = serde_json::to_value(spec).unwrap_or_default();
    if got != mandatory["spec"] {
        errs.push(FieldError::invalid(
            sp,
            got,
            &format!("spec of '{name}' must equal the fixed value"),
        ));
    }
    errs
}

fn non_negative_shares(v: Option<i32>, p: &Path) -> ErrorList {
    match v {
        Some(n) if n < 0 => vec![FieldError::invalid(p, n, "must be a non-negative integer")],
        _ => Vec::new(),
    }
}

fn percent(v: Option<i32>, p: &Path) -> ErrorList {
    match v {
        Some(n) if !(0..=100).contains(&n) => vec![FieldError::invalid(
            p,
            n,
            "must be between 0 and 100, inclusive",
        )],
        _ => Vec::new(),
    }
}

fn validate_limited(l: &LimitedPriorityLevelConfiguration, p: &Path) -> ErrorList {
    let mut errs = non_negative_shares(
        l.nominal_concurrency_shares,
        &p.child("nominalConcurrencyShares"),
    );
    errs.extend(validate_limit_response(
        &l.limit_response.clone().unwrap_or_default(),
        &p.child("limitResponse"),
    ));
    errs.extend(percent(l.lendable_percent, &p.child("lendablePercent")));
    if let Some(b) = l.borrowing_limit_percent
        && b < 0
    {
        errs.push(FieldError::invalid(
            &p.child("borrowingLimitPercent"),
            b,
            "if specified, must be a non-negative integer",
        ));
    }
    errs
}

fn validate_limit_response(r: &LimitResponse, p: &Path) -> ErrorList {
    match (r.type_.as_str(), &r.queuing) {
        ("Reject", Some(_)) => vec![FieldError::forbidden(
            &p.child("queuing"),
            "must be nil if limited.limitResponse.type is not Limited",
        )],
        ("Reject", None) => Vec::new(),
        ("Queue", None) => vec![FieldError::required(
            &p.child("queuing"),
            "must not be empty if limited.limitResponse.type is Limited",
        )],
        ("Queue", Some(q)) => validate_queuing(q, &p.child("queuing")),
        (other, _) => vec![FieldError::not_supported(
            &p.child("type"),
            other,
            &["Queue", "Reject"],
        )],
    }
}

/// Bits of hash that dealing `hand` cards from `deck` needs.
fn required_entropy_bits(deck: i32, hand: i32) -> f64 {
    ((deck as f64).log2() * hand as f64).ceil()
}

fn validate_queuing(q: &QueuingConfiguration, p: &Path) -> ErrorList {
    let mut errs = Vec::new();
    let limit = q.queue_length_limit.unwrap_or(0);
    if limit <= 0 {
        errs.push(FieldError::invalid(
            &p.child("queueLengthLimit"),
            limit,
            "must be positive",
        ));
    }
    let queues = q.queues.unwrap_or(0);
    if queues <= 0 {
        errs.push(FieldError::invalid(
            &p.child("queues"),
            queues,
            "must be positive",
        ));
    } else if queues > MAX_QUEUES {
        errs.push(FieldError::invalid(
            &p.child("queues"),
            queues,
            &format!("must not be greater than {MAX_QUEUES}"),
        ));
    }
    let hand = q.hand_size.unwrap_or(0);
    let hp = p.child("handSize");
    if hand <= 0 {
        errs.push(FieldError::invalid(&hp, hand, "must be positive"));
    } else if hand > queues {
        errs.push(FieldError::invalid(
            &hp,
            hand,
            &format!("should not be greater than queues ({queues})"),
        ));
    } else if required_entropy_bits(queues, hand) > MAX_HASH_BITS {
        errs.push(FieldError::invalid(
            &hp,
            hand,
            &format!(
                "required entropy bits of deckSize {queues} and handSize {hand} should not be greater than {}",
                MAX_HASH_BITS as i32
            ),
        ));
    }
    errs
}

fn validate_status(status: Option<&PriorityLevelConfigurationStatus>) -> ErrorList {
    super::validate_condition_types(
        status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .map(|c| c.type_.as_deref()),
    )
}
