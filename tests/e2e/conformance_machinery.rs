//! sig-api-machinery conformance, checked the way upstream's e2e tests
//! (test/e2e/apimachinery) drive the apiserver, one module per area.

mod chunking;
mod crd_openapi;
mod crds;
mod discovery;
mod field_validation;
mod watch;

use serde_json::Value;

/// GETs `path` with `accept`: the code, the Content-Type and the JSON body.
pub(super) async fn get_accept(
    client: &kube::Client,
    path: &str,
    accept: &str,
) -> (u16, String, Value) {
    use http_body_util::BodyExt;
    let req = http::Request::builder()
        .uri(path)
        .header("accept", accept)
        .body(Vec::new())
        .unwrap();
    let resp = client
        .send(req.map(kube::client::Body::from))
        .await
        .unwrap();
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        code,
        ct,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
