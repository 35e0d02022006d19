//! What a provider's supervisor asks of the secrets backends before a launch: the
//! provider's own secrets, and its links' secrets sealed for the process.

use super::{Launch, StartError, Supervisor};

impl Supervisor {
    /// The provider's own secrets (`HostData.secrets`), presented with its claims JWT.
    pub(super) async fn secrets(
        &self,
        loaded: &Launch,
    ) -> Result<std::collections::BTreeMap<String, lattice_proto::SecretValue>, StartError> {
        let jwt = entity_jwt(loaded);
        let application = self.spec.annotations.get("wasmcloud.dev/appspec");
        Ok(self
            .env
            .secrets
            .resolve(
                &self.env.lattice,
                &self.spec.config,
                jwt,
                application.map(String::as_str),
            )
            .await?)
    }

    /// The bootstrap's links with their secrets sealed for this process; a link whose
    /// secrets cannot be had is left out, with `provider_link_failed`.
    pub(super) async fn seal_links(
        &self,
        mut state: crate::lattice::Bootstrap,
        loaded: &Launch,
    ) -> crate::lattice::Bootstrap {
        let mut links = Vec::with_capacity(state.links.len());
        for (mut link, refs) in state
            .links
            .drain(..)
            .zip(std::mem::take(&mut state.link_secrets))
        {
            if refs.is_empty() {
                links.push(link);
                continue;
            }
            match self
                .env
                .secrets
                .seal_link(&mut link, &refs, entity_jwt(loaded), &self.xkey_public)
                .await
            {
                Ok(()) => links.push(link),
                Err(error) => {
                    crate::lattice::link_failed(
                        &self.env.events,
                        self.env.host_id(),
                        &self.spec.provider_id,
                        &link,
                        &error.to_string(),
                    )
                    .await
                }
            }
        }
        state.links = links;
        state
    }
}

/// The claims JWT a provider presents to secrets backends (builtins have none).
pub(super) fn entity_jwt(loaded: &Launch) -> Option<&str> {
    match loaded {
        Launch::Executable(loaded) => loaded.claims.as_ref().map(|c| c.jwt.as_str()),
        Launch::Builtin(_) => None,
    }
}
