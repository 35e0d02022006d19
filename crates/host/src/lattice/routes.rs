//! Where components' outgoing calls go: every source's links, readable without asking
//! the owner task. The owner task is the only writer (it mirrors each change to its
//! own links here); invocations only read, under a lock held for one lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lattice_proto::Link;

/// The links of every source, as the owner task last saw them. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes(Arc<RwLock<HashMap<String, Vec<Link>>>>);

impl Routes {
    /// `source`'s links are `links` now.
    pub(super) fn set(&self, source: &str, links: Vec<Link>) {
        self.write().insert(source.to_string(), links);
    }

    /// `source` has no links now.
    pub(super) fn remove(&self, source: &str) {
        self.write().remove(source);
    }

    /// Only the sources `keep` accepts remain.
    pub(super) fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.write().retain(|source, _| keep(source));
    }

    /// The target of `source`'s link `name` for `namespace:package/interface`.
    pub(crate) fn target(
        &self,
        source: &str,
        (namespace, package, interface): (&str, &str, &str),
        name: &str,
    ) -> Option<String> {
        let links = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        links.get(source)?.iter().find_map(|l| {
            (l.name == name
                && l.wit_namespace == namespace
                && l.wit_package == package
                && l.interfaces.iter().any(|i| i == interface))
            .then(|| l.target.clone())
        })
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<Link>>> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, target: &str, interfaces: &[&str]) -> Link {
        serde_json::from_value(serde_json::json!({
            "source_id": "calc", "target": target, "name": name, "wit_namespace": "local",
            "wit_package": "test", "interfaces": interfaces,
        }))
        .unwrap()
    }

    #[test]
    fn a_target_follows_name_package_and_interface() {
        let routes = Routes::default();
        routes.set(
            "calc",
            vec![
                link("default", "math", &["math"]),
                link("fast", "math2", &["math"]),
            ],
        );
        let math = ("local", "test", "math");
        assert_eq!(
            routes.target("calc", math, "default").as_deref(),
            Some("math")
        );
        assert_eq!(
            routes.target("calc", math, "fast").as_deref(),
            Some("math2")
        );
        assert_eq!(
            routes.target("calc", ("local", "test", "other"), "default"),
            None
        );
        assert_eq!(routes.target("other", math, "default"), None);
        routes.retain(|source| source != "calc");
        assert_eq!(routes.target("calc", math, "default"), None);
    }
}
