//! DefaultBinder: binds through the `pods/binding` subresource.

use std::sync::Arc;

use crate::framework::{ClusterApi, ExtensionPoints, Plugin, PodInfo, Status, StatusFuture};

/// Plugin name.
pub const NAME: &str = "DefaultBinder";

/// The DefaultBinder plugin.
#[derive(Debug)]
pub struct DefaultBinder {
    api: Arc<dyn ClusterApi>,
}

impl DefaultBinder {
    /// A binder writing through `api`.
    pub fn new(api: Arc<dyn ClusterApi>) -> Self {
        DefaultBinder { api }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }

    fn extension_points(&self) -> ExtensionPoints {
        ExtensionPoints::BIND
    }

    fn bind(&self, pod: Arc<PodInfo>, node: String) -> StatusFuture {
        let call = self.api.bind(&pod.namespace, &pod.name, &pod.uid, &node);
        Box::pin(async move {
            match call.await {
                Ok(()) => Status::success(),
                Err(err) => Status::error(err.to_string()),
            }
        })
    }
}
