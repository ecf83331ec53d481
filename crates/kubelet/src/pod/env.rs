//! A container's environment as upstream builds it: service links, envFrom,
//! env (literal with `$(VAR)` expansion, fieldRef, resourceFieldRef,
//! configMapKeyRef, secretKeyRef), and `$(VAR)` expansion of command/args.
//!
//! Errors are the messages upstream reports with `CreateContainerConfigError`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, Service};

use super::downward::{RuntimeFacts, field_value, resource_value};
use super::objects::ObjectGetter;

/// Upstream's `expansion.Expand`: `$(NAME)` is replaced by `NAME`'s value
/// when `lookup` knows it and kept literally otherwise; `$$` is an escaped `$`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            out.push_str(&input[literal_start..i]);
            match bytes[i + 1] {
                b'$' => {
                    out.push('$');
                    i += 2;
                }
                b'(' => match input[i + 2..].find(')') {
                    Some(end) => {
                        let name = &input[i + 2..i + 2 + end];
                        match lookup(name) {
                            Some(value) if !name.is_empty() => out.push_str(&value),
                            _ => out.push_str(&input[i..i + 3 + end]),
                        }
                        i += 3 + end;
                    }
                    None => {
                        out.push_str(&input[i..]);
                        i = bytes.len();
                    }
                },
                _ => {
                    out.push('$');
                    i += 1;
                }
            }
            literal_start = i;
        } else {
            i += 1;
        }
    }
    if literal_start < bytes.len() {
        out.push_str(&input[literal_start..]);
    }
    out
}

fn env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

/// Docker-link style variables of one service (upstream `FromServices`).
fn service_vars(service: &Service, out: &mut Vec<(String, String)>) {
    let Some(spec) = &service.spec else { return };
    let Some(ip) = spec.cluster_ip.as_deref() else {
        return;
    };
    if ip.is_empty() || ip == "None" {
        return;
    }
    let name = env_name(service.metadata.name.as_deref().unwrap_or_default());
    let ports = spec.ports.as_deref().unwrap_or_default();
    let Some(first) = ports.first() else { return };
    out.push((format!("{name}_SERVICE_HOST"), ip.to_string()));
    out.push((format!("{name}_SERVICE_PORT"), first.port.to_string()));
    for port in ports {
        if let Some(port_name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            out.push((
                format!("{name}_SERVICE_PORT_{}", env_name(port_name)),
                port.port.to_string(),
            ));
        }
    }
    let protocol = |p: &k8s_openapi::api::core::v1::ServicePort| {
        p.protocol.clone().unwrap_or_else(|| "TCP".into())
    };
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    out.push((
        format!("{name}_PORT"),
        format!("{}://{host}:{}", protocol(first).to_lowercase(), first.port),
    ));
    for port in ports {
        let proto = protocol(port);
        let prefix = format!("{name}_PORT_{}_{}", port.port, proto.to_uppercase());
        out.push((
            prefix.clone(),
            format!("{}://{host}:{}", proto.to_lowercase(), port.port),
        ));
        out.push((format!("{prefix}_PROTO"), proto.to_lowercase()));
        out.push((format!("{prefix}_PORT"), port.port.to_string()));
        out.push((format!("{prefix}_ADDR"), ip.to_string()));
    }
}

/// Service environment variables for a pod: the services of its namespace
/// when `enableServiceLinks` (default true), and always the `kubernetes`
/// service of the `default` namespace.
pub fn service_env(pod: &Pod, objects: &dyn ObjectGetter) -> Vec<(String, String)> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod
        .spec
        .as_ref()
        .and_then(|s| s.enable_service_links)
        .unwrap_or(true);
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    if links {
        for s in objects.services(namespace) {
            services.insert(s.metadata.name.clone().unwrap_or_default(), s);
        }
    }
    if !services.contains_key("kubernetes")
        && let Some(master) = objects
            .services("default")
            .into_iter()
            .find(|s| s.metadata.name.as_deref() == Some("kubernetes"))
    {
        services.insert("kubernetes".into(), master);
    }
    let mut out = Vec::new();
    for service in services.values() {
        service_vars(service, &mut out);
    }
    out
}

fn set(env: &mut Vec<(String, String)>, name: String, value: String) {
    match env.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    }
}

/// Builds the environment of `container` (upstream `makeEnvironmentVariables`).
pub async fn environment(
    pod: &Pod,
    container: &Container,
    facts: &RuntimeFacts,
    objects: &dyn ObjectGetter,
) -> Result<Vec<(String, String)>, String> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let services = service_env(pod, objects);
    let mut env: Vec<(String, String)> = Vec::new();

    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(cm_ref) = &source.config_map_ref {
            let optional = cm_ref.optional.unwrap_or(false);
            match objects.config_map(namespace, &cm_ref.name).await? {
                Some(cm) => {
                    for (k, v) in cm.data.into_iter().flatten() {
                        set(&mut env, format!("{prefix}{k}"), v);
                    }
                }
                None if optional => {}
                None => return Err(format!("configmap \"{}\" not found", cm_ref.name)),
            }
        }
        if let Some(secret_ref) = &source.secret_ref {
            let optional = secret_ref.optional.unwrap_or(false);
            match objects.secret(namespace, &secret_ref.name).await? {
                Some(secret) => {
                    for (k, v) in secret.data.into_iter().flatten() {
                        set(
                            &mut env,
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        );
                    }
                }
                None if optional => {}
                None => return Err(format!("secret \"{}\" not found", secret_ref.name)),
            }
        }
    }

    for var in container.env.iter().flatten() {
        let value = if let Some(value_from) = &var.value_from {
            if let Some(field) = &value_from.field_ref {
                field_value(pod, field, facts, false)?
            } else if let Some(resource) = &value_from.resource_field_ref {
                resource_value(container, resource, facts)?
            } else if let Some(key_ref) = &value_from.config_map_key_ref {
                let optional = key_ref.optional.unwrap_or(false);
                match objects.config_map(namespace, &key_ref.name).await? {
                    Some(cm) => match cm.data.as_ref().and_then(|d| d.get(&key_ref.key)) {
                        Some(v) => v.clone(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                key_ref.key, key_ref.name
                            ));
                        }
                    },
                    None if optional => continue,
                    None => return Err(format!("configmap \"{}\" not found", key_ref.name)),
                }
            } else if let Some(key_ref) = &value_from.secret_key_ref {
                let optional = key_ref.optional.unwrap_or(false);
                match objects.secret(namespace, &key_ref.name).await? {
                    Some(secret) => match secret.data.as_ref().and_then(|d| d.get(&key_ref.key)) {
                        Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                        None if optional => continue,
                        None => {
                            return Err(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                key_ref.key, key_ref.name
                            ));
                        }
                    },
                    None if optional => continue,
                    None => return Err(format!("secret \"{}\" not found", key_ref.name)),
                }
            } else {
                String::new()
            }
        } else {
            let raw = var.value.clone().unwrap_or_default();
            let lookup = |name: &str| {
                env.iter()
                    .find(|(n, _)| n == name)
                    .or_else(|| services.iter().find(|(n, _)| n == name))
                    .map(|(_, v)| v.clone())
            };
            expand(&raw, &lookup)
        };
        set(&mut env, var.name.clone(), value);
    }

    for (name, value) in services {
        if !env.iter().any(|(n, _)| *n == name) {
            env.push((name, value));
        }
    }
    Ok(env)
}

/// Expands `$(VAR)` in command and args with the final environment.
pub fn expand_command(
    container: &Container,
    env: &[(String, String)],
) -> (Vec<String>, Vec<String>) {
    let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let command = container
        .command
        .iter()
        .flatten()
        .map(|c| expand(c, &lookup))
        .collect();
    let args = container
        .args
        .iter()
        .flatten()
        .map(|a| expand(a, &lookup))
        .collect();
    (command, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::objects::MemoryObjects;
    use k8s_openapi::api::core::v1::{
        ConfigMapKeySelector, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, PodSpec,
        SecretEnvSource, SecretKeySelector, ServicePort, ServiceSpec,
    };

    #[test]
    fn expansion_like_upstream() {
        let lookup = |name: &str| match name {
            "A" => Some("alpha".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        for (input, want) in [
            ("$(A)", "alpha"),
            ("x-$(A)-y", "x-alpha-y"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$alpha"),
            ("$(A", "$(A"),
            ("a$b", "a$b"),
            ("$", "$"),
            ("$(EMPTY)|", "|"),
            ("$()", "$()"),
            ("héllo $(A)", "héllo alpha"),
        ] {
            assert_eq!(expand(input, &lookup), want, "{input}");
        }
    }

    fn pod(namespace: &str) -> Pod {
        Pod {
            metadata: kube::api::ObjectMeta {
                name: Some("p".into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            ..Default::default()
        }
    }

    fn service(namespace: &str, name: &str, ip: &str, port: i32) -> Service {
        Service {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(vec![ServicePort {
                    name: Some("https".into()),
                    port,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn sources_and_services() {
        let objects = MemoryObjects::default();
        objects.add_config_map("ns", "cfg", &[("color", "blue")]);
        objects.add_secret("ns", "sec", &[("token", b"s3cret")]);
        objects.services.lock().unwrap().extend([
            service("default", "kubernetes", "10.96.0.1", 443),
            service("ns", "my-db", "10.96.0.9", 5432),
        ]);
        let container = Container {
            name: "c".into(),
            env_from: Some(vec![EnvFromSource {
                prefix: Some("S_".into()),
                secret_ref: Some(SecretEnvSource {
                    name: "sec".into(),
                    optional: None,
                }),
                config_map_ref: None,
            }]),
            env: Some(vec![
                EnvVar {
                    name: "COLOR".into(),
                    value_from: Some(EnvVarSource {
                        config_map_key_ref: Some(ConfigMapKeySelector {
                            name: "cfg".into(),
                            key: "color".into(),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                    value: None,
                },
                EnvVar {
                    name: "NAME".into(),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            field_path: "metadata.name".into(),
                            api_version: None,
                        }),
                        ..Default::default()
                    }),
                    value: None,
                },
                EnvVar {
                    name: "GREETING".into(),
                    value: Some("$(NAME) is $(COLOR) at $(MY_DB_SERVICE_HOST)".into()),
                    value_from: None,
                },
                EnvVar {
                    name: "MAYBE".into(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: "missing".into(),
                            key: "k".into(),
                            optional: Some(true),
                        }),
                        ..Default::default()
                    }),
                    value: None,
                },
            ]),
            command: Some(vec!["echo".into(), "$(GREETING)".into()]),
            ..Default::default()
        };
        let env = environment(&pod("ns"), &container, &RuntimeFacts::default(), &objects)
            .await
            .unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("S_token"), Some("s3cret"));
        assert_eq!(get("COLOR"), Some("blue"));
        assert_eq!(get("GREETING"), Some("p is blue at 10.96.0.9"));
        assert_eq!(get("MAYBE"), None);
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("MY_DB_PORT"), Some("tcp://10.96.0.9:5432"));
        assert_eq!(get("MY_DB_PORT_5432_TCP_ADDR"), Some("10.96.0.9"));
        let (command, _) = expand_command(&container, &env);
        assert_eq!(command, ["echo", "p is blue at 10.96.0.9"]);

        let mut broken = container.clone();
        broken.env = Some(vec![EnvVar {
            name: "X".into(),
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: "cfg".into(),
                    key: "nope".into(),
                    optional: None,
                }),
                ..Default::default()
            }),
            value: None,
        }]);
        let err = environment(&pod("ns"), &broken, &RuntimeFacts::default(), &objects)
            .await
            .unwrap_err();
        assert_eq!(err, "couldn't find key nope in ConfigMap ns/cfg");
    }
}
