//! Image references as containerd normalises them.

/// Normalises a Docker-style image reference the way containerd does:
/// `busybox` -> `docker.io/library/busybox:latest`,
/// `example.com/app` -> `example.com/app:latest`. References with a digest
/// (`name@sha256:...`) and image ids (`sha256:...`) are returned unchanged.
pub fn normalize_image_ref(image: &str) -> String {
    let image = image.trim();
    if image.starts_with("sha256:") || image.contains('@') {
        return image.to_string();
    }
    let (first, rest) = match image.split_once('/') {
        Some((first, rest)) => (first, Some(rest)),
        None => (image, None),
    };
    let has_domain =
        rest.is_some() && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = match rest {
        Some(_) if has_domain => image.to_string(),
        Some(_) => format!("docker.io/{image}"),
        None => format!("docker.io/library/{image}"),
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if !last.contains(':') {
        full.push_str(":latest");
    }
    full
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_containerd() {
        for (input, want) in [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("corten.local/testserver", "corten.local/testserver:latest"),
            ("sha256:abcd", "sha256:abcd"),
            ("busybox@sha256:abcd", "busybox@sha256:abcd"),
        ] {
            assert_eq!(normalize_image_ref(input), want, "{input}");
        }
    }
}
