//! Where components' outgoing calls go: every source's links, readable without asking
//! the owner task. Written with the spec's revision, so only a newer one replaces what
//! is held: by the owner task as the watch brings changes, and by this host right after
//! it wrote a spec itself (so a link put through this host reaches its invocations
//! before the reply goes out). Invocations only read, under a lock held for one lookup.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lattice_proto::Link;

/// The links of every source at the newest revision seen of its spec (a deleted
/// spec: none, at its revision). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Routes(Arc<RwLock<BySource>>);

/// Each source's spec revision and links.
type BySource = HashMap<String, (u64, Vec<Link>)>;

impl Routes {
    /// `source`'s links are `links` at `revision`, unless a newer revision is held.
    pub(super) fn set(&self, source: &str, revision: u64, links: Vec<Link>) {
        let mut routes = self.write();
        match routes.get_mut(source) {
            Some((held, _)) if *held > revision => {}
            Some(entry) => *entry = (revision, links),
            None => {
                routes.insert(source.to_string(), (revision, links));
            }
        }
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
        links.get(source)?.1.iter().find_map(|l| {
            (l.name == name
                && l.wit_namespace == namespace
                && l.wit_package == package
                && l.interfaces.iter().any(|i| i == interface))
            .then(|| l.target.clone())
        })
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BySource> {
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
    fn a_target_follows_name_package_interface_and_the_newest_revision() {
        let routes = Routes::default();
        let both = vec![
            link("default", "math", &["math"]),
            link("fast", "math2", &["math"]),
        ];
        routes.set("calc", 2, both);
        let math = ("local", "test", "math");
        let target = |name| routes.target("calc", math, name);
        assert_eq!(target("default").as_deref(), Some("math"));
        assert_eq!(target("fast").as_deref(), Some("math2"));
        let other = ("local", "test", "other");
        assert_eq!(routes.target("calc", other, "default"), None);
        assert_eq!(routes.target("other", math, "default"), None);
        // An older revision (a watch behind this host's own write) changes nothing.
        routes.set("calc", 1, Vec::new());
        assert_eq!(target("default").as_deref(), Some("math"));
        routes.set("calc", 3, Vec::new());
        assert_eq!(target("default"), None);
        routes.set("calc", 4, vec![link("default", "math", &["math"])]);
        assert_eq!(target("default").as_deref(), Some("math"));
        routes.retain(|source| source != "calc");
        assert_eq!(target("default"), None);
    }
}
