//! The apiserver's bootstrap of the flowcontrol configuration (upstream's
//! `apiserver/pkg/util/flowcontrol` ensurer): mandatory objects are
//! created and always kept at their fixed spec (the `exempt` level's
//! `spec.exempt` excepted, which administrators may tune); suggested
//! objects are created when missing and only updated while their
//! `apf.kubernetes.io/autoupdate-spec` annotation says `"true"`.

use corten_api::flowcontrol::{AUTO_UPDATE_ANNOTATION, bootstrap};
use corten_apimachinery::{StatusError, meta};
use serde_json::{Value, json};

use crate::app::ApiServer;
use crate::registry::store::{self, UpdateTarget, WriteOptions};

/// Creates or updates every bootstrap object. Safe to run repeatedly and
/// by several apiservers at once (conflicts are left to the next run).
pub async fn run(server: &ApiServer) -> Result<(), StatusError> {
    let sets = [
        (
            "prioritylevelconfigurations",
            bootstrap::mandatory_priority_levels(),
            true,
        ),
        ("flowschemas", bootstrap::mandatory_flow_schemas(), true),
        (
            "prioritylevelconfigurations",
            bootstrap::suggested_priority_levels(),
            false,
        ),
        ("flowschemas", bootstrap::suggested_flow_schemas(), false),
    ];
    for (resource, objects, mandatory) in sets {
        let Some(res) = server
            .registry
            .resource(corten_api::flowcontrol::GROUP, "v1", resource)
        else {
            return Ok(());
        };
        for wanted in objects {
            ensure_one(server, &res, wanted, mandatory).await?;
        }
    }
    Ok(())
}

async fn ensure_one(
    server: &ApiServer,
    res: &crate::registry::Resource,
    wanted: Value,
    mandatory: bool,
) -> Result<(), StatusError> {
    let reg = &server.registry;
    let name = meta::name(&wanted).unwrap_or_default().to_string();
    match store::get(reg, res, None, &name, None).await {
        Ok(bytes) => {
            let existing: Value = serde_json::from_slice(&bytes).map_err(StatusError::internal)?;
            let Some(updated) = reconcile(&existing, &wanted, mandatory) else {
                return Ok(());
            };
            match store::update(
                reg,
                res,
                None,
                &name,
                updated,
                UpdateTarget::Main,
                &WriteOptions::default(),
            )
            .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.code == 409 || e.code == 404 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) if e.code == 404 => {
            match store::create(reg, res, None, wanted, &WriteOptions::default()).await {
                Ok(_) => Ok(()),
                Err(e) if e.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// The object `existing` should become, or None when it is fine as is.
///
/// Whether the spec is kept up to date: always for mandatory objects; for
/// suggested ones as the annotation says, and when it is missing or not a
/// boolean, only if the object was never changed (generation 1). The
/// annotation is then written down with that answer.
pub fn reconcile(existing: &Value, wanted: &Value, mandatory: bool) -> Option<Value> {
    let annotation = meta::annotations(existing)
        .get(AUTO_UPDATE_ANNOTATION)
        .and_then(|v| parse_bool(v));
    let auto_update = mandatory
        || annotation.unwrap_or_else(|| existing["metadata"]["generation"].as_i64() == Some(1));
    let mut new = existing.clone();
    if auto_update {
        let mut spec = wanted["spec"].clone();
        if meta::name(wanted) == Some("exempt") && wanted["kind"] == "PriorityLevelConfiguration" {
            // Administrators may tune the exempt level's own settings.
            if let Some(e) = existing["spec"].get("exempt") {
                spec["exempt"] = e.clone();
            }
        }
        new["spec"] = spec;
    }
    if annotation != Some(auto_update) {
        let metadata = &mut new["metadata"];
        if !metadata["annotations"].is_object() {
            metadata["annotations"] = json!({});
        }
        metadata["annotations"][AUTO_UPDATE_ANNOTATION] = json!(auto_update.to_string());
    }
    (new != *existing).then_some(new)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(list: Vec<Value>, name: &str) -> Value {
        list.into_iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap()
    }

    fn stored(mut o: Value, generation: i64) -> Value {
        o["metadata"]["generation"] = json!(generation);
        o["metadata"]["uid"] = json!("u");
        o
    }

    #[test]
    fn mandatory_objects_are_restored() {
        let wanted = named(bootstrap::mandatory_flow_schemas(), "catch-all");
        let mut existing = stored(wanted.clone(), 2);
        assert!(reconcile(&existing, &wanted, true).is_none());
        existing["spec"]["matchingPrecedence"] = json!(5000);
        existing["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION] = json!("false");
        let fixed = reconcile(&existing, &wanted, true).unwrap();
        assert_eq!(fixed["spec"], wanted["spec"]);
        assert_eq!(
            fixed["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION],
            "true"
        );
        assert_eq!(fixed["metadata"]["uid"], "u");
    }

    #[test]
    fn the_exempt_level_keeps_its_tuning() {
        let wanted = named(bootstrap::mandatory_priority_levels(), "exempt");
        let mut existing = stored(wanted.clone(), 2);
        existing["spec"]["exempt"]["nominalConcurrencyShares"] = json!(9);
        assert!(reconcile(&existing, &wanted, true).is_none());
    }

    #[test]
    fn suggested_objects_follow_the_annotation() {
        let wanted = named(bootstrap::suggested_priority_levels(), "workload-low");
        let mut changed = stored(wanted.clone(), 2);
        changed["spec"]["limited"]["nominalConcurrencyShares"] = json!(1);
        // "true": the spec is put back.
        let fixed = reconcile(&changed, &wanted, false).unwrap();
        assert_eq!(fixed["spec"], wanted["spec"]);
        // "false": left alone.
        let mut kept = changed.clone();
        kept["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION] = json!("false");
        assert!(reconcile(&kept, &wanted, false).is_none());
        // Missing on a changed object: left alone, annotated "false".
        let mut bare = changed.clone();
        bare["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let annotated = reconcile(&bare, &wanted, false).unwrap();
        assert_eq!(annotated["spec"], changed["spec"]);
        assert_eq!(
            annotated["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION],
            "false"
        );
        // Missing on an unchanged object: kept up to date, annotated "true".
        let mut fresh = stored(wanted.clone(), 1);
        fresh["spec"]["limited"]["lendablePercent"] = json!(3);
        fresh["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("annotations");
        let updated = reconcile(&fresh, &wanted, false).unwrap();
        assert_eq!(updated["spec"], wanted["spec"]);
        assert_eq!(
            updated["metadata"]["annotations"][AUTO_UPDATE_ANNOTATION],
            "true"
        );
    }
}
