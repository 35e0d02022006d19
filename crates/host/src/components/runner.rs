//! One runner per component on this host. It loads the component (compile cache
//! first), links it (WASI 0.2, every other import a wRPC call through its links),
//! serves each export function on wRPC (`{lattice}.{id}.wrpc.0.0.1.{instance}.{func}`,
//! queue group `{lattice}.{id}`; `wasi:http/incoming-handler` as
//! `wrpc:http/incoming-handler@0.1.0.handle`), one fresh instance per invocation from one
//! pre-linked component, at most `count` at a time. A signed component's embedded claims are
//! verified before it is compiled, and stored (`CLAIMS_{sub}`) once it is ready.
//!
//! A rescale or an update swaps in a new [`Serving`] while invocations that started on
//! the old one finish on it: drained, never cut. A stop ends the subscriptions first,
//! then waits (up to the deadline) for invocations in flight.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use lattice_runtime::wasmtime::component::types;
use lattice_runtime::{Invocation, PrepareOptions, Prepared};
use lattice_wrpc::subjects::{InvocationSubject, SubjectPrefix};
use lattice_wrpc::value::Type;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::wrpc_http::wire::{HANDLE, INCOMING_HANDLER};

use crate::artifacts::{ClaimsError, ComponentClaims, verify_component_claims};

use super::glue::wrpc_type;
use super::imports::{self, Router};
use super::resources;
use super::{ComponentEnv, ComponentSpec, InvocationState, ScaleError};

/// What serves invocations now: the pre-linked component and its export types.
pub(crate) struct Serving {
    pub(crate) prepared: Prepared<InvocationState>,
    pub(crate) spec: ComponentSpec,
    /// Where the named config is read at each invocation.
    pub(crate) lattice: crate::lattice::LatticeState,
    /// The component's verified claims, when it is signed (events, inventory).
    pub(crate) claims: Option<Arc<ComponentClaims>>,
    /// The secrets its config names reference, fetched at scale (`wasmcloud:secrets`).
    pub(crate) secrets: Arc<std::collections::BTreeMap<String, lattice_proto::SecretValue>>,
    /// Asked before each invocation served over wRPC (with a policy topic).
    pub(crate) policy: crate::policy::Policy,
    /// Keeps the registry layer it came from out of cache eviction while it serves.
    pub(crate) layer: Option<Arc<lattice_artifacts::Pin>>,
    /// Where its `wasi:http/outgoing-handler` requests go.
    pub(crate) outgoing: super::outgoing_http::OutgoingHttp,
    /// The resource types it exports.
    pub(crate) exported: Arc<[types::ResourceType]>,
    /// The instance that keeps the resources it exports, made at the first call of a
    /// function that has one (see [`super::resources`]); calls on it take turns.
    pub(crate) resident: Arc<tokio::sync::Mutex<Option<Invocation<InvocationState>>>>,
    /// The export functions served over wRPC (and in-process to components of this host).
    pub(super) exports: Arc<[Arc<Export>]>,
}

/// What one subscription serves.
enum Served {
    /// An exported function, its values converted.
    Func(Arc<Export>),
    /// `wasi:http/incoming-handler`, as `wrpc:http/incoming-handler@0.1.0.handle`.
    Http,
}

/// One exported function, typed for wRPC.
#[derive(Clone)]
pub(super) struct Export {
    pub(super) instance: Option<String>,
    pub(super) func: String,
    pub(super) params: Vec<(Type, types::Type)>,
    pub(super) results: Vec<(Type, types::Type)>,
    /// Whether it runs on the resident instance (a resource the component exports is
    /// among its parameters or results).
    pub(super) resident: bool,
    /// The instance it is served as, when not its own: only a `wasi:keyvalue/watcher`
    /// is, and its first parameter is then a bucket that callers name.
    pub(super) wire_instance: Option<String>,
}

impl Export {
    /// Whether its first parameter is a `wasi:keyvalue` bucket that callers name (a
    /// watcher's `on-set` and `on-delete`).
    pub(super) fn bucket_first(&self) -> bool {
        self.wire_instance.is_some()
    }

    /// The instance and function names callers reach it by (as in its subject).
    pub(super) fn served_as(&self) -> (&str, &str) {
        let instance = self.wire_instance.as_ref().or(self.instance.as_ref());
        (
            instance.map(String::as_str).unwrap_or_default(),
            lattice_wrpc::subjects::wire_func_name(&self.func),
        )
    }
}

/// Loads and links `spec`'s component, ready to serve `spec.count` at a time.
pub(crate) async fn prepare(
    env: &ComponentEnv,
    spec: &ComponentSpec,
) -> Result<Serving, ScaleError> {
    // Every named config must exist (a missing one fails the scale, as for providers).
    env.lattice.merged_config(&spec.config).await?;
    let (bytes, layer) = env.artifacts.load_component_bytes(&spec.reference).await?;
    // Embedded claims are verified before anything is compiled (as 1.9.2 does).
    let (bytes, claims) = tokio::task::spawn_blocking(move || {
        let claims = verify_component_claims(&bytes);
        (bytes, claims)
    })
    .await
    .map_err(|e| {
        ScaleError::Claims(ClaimsError::Undecodable(format!(
            "the check did not finish: {e}"
        )))
    })?;
    let claims = claims?.map(Arc::new);
    env.policy
        .component(policy_component(spec, claims.as_deref()))
        .await?;
    // Secret references are fetched as 1.9.2 fetches them (at scale), so a component
    // that names one it cannot have does not start; it reads them with
    // `wasmcloud:secrets`.
    let secrets = env
        .secrets
        .resolve(
            &env.lattice,
            &spec.config,
            claims.as_ref().map(|c| c.jwt.as_str()),
            spec.annotations
                .get("wasmcloud.dev/appspec")
                .map(String::as_str),
        )
        .await?;
    if claims.is_none() {
        env.artifacts
            .unsigned(
                lattice_artifacts::ArtifactKind::Component,
                &spec.id,
                &spec.reference,
            )
            .await?;
    }
    let loaded = env.runtime.load(bytes).await?;
    tracing::info!(
        component_id = %spec.id,
        cache = ?loaded.outcome,
        elapsed = ?loaded.elapsed,
        "component loaded"
    );
    let component = loaded.component;
    let signatures = env.runtime.signatures(&component);
    let exported: Arc<[types::ResourceType]> = resources::exported_types(&signatures).into();
    let mut linker = env.runtime.linker_with_wasi_http::<InvocationState>()?;
    let router = Router {
        component_id: spec.id.clone(),
        lattice_name: env.lattice_name.clone(),
        lattice: env.lattice.clone(),
        wrpc: env.wrpc.clone(),
        local: env.local.clone(),
    };
    super::host_interfaces::link(&mut linker, &signatures, &router)
        .map_err(|e| ScaleError::Link(format!("{e:#}")))?;
    imports::polyfill(&mut linker, &signatures, &router, &exported)
        .map_err(|e| ScaleError::Link(format!("{e:#}")))?;
    let count = NonZeroU32::new(spec.count).ok_or(ScaleError::ZeroCount)?;
    let options = PrepareOptions {
        count,
        limits: spec.limits,
    };
    let prepared = env.runtime.prepare(&linker, &component, options)?;
    let exports = exports(prepared.signatures(), &exported)
        .into_iter()
        .map(Arc::new)
        .collect();
    if let Some(claims) = &claims {
        // `CLAIMS_{sub}`, for `claims.get` on any host.
        env.lattice
            .put_claims(&claims.stored())
            .await
            .map_err(|e| ScaleError::StoreClaims(e.to_string()))?;
    }
    Ok(Serving {
        outgoing: super::outgoing_http::OutgoingHttp {
            router: Arc::new(router),
            clients: env.http_clients.clone(),
            trace: Vec::new(),
            link_name: super::imports::DEFAULT_LINK.to_string(),
        },
        secrets: Arc::new(secrets),
        policy: env.policy.clone(),
        layer: layer.map(Arc::new),
        exported,
        exports,
        resident: Default::default(),
        prepared,
        spec: spec.clone(),
        lattice: env.lattice.clone(),
        claims,
    })
}

impl Serving {
    /// The store data of one invocation: the merged named config as it is now.
    pub(crate) async fn invocation_state(&self) -> InvocationState {
        // Without named config nothing is asked of the lattice state.
        let config = match self.spec.config.is_empty() {
            true => Default::default(),
            false => self
                .lattice
                .merged_config(&self.spec.config)
                .await
                .unwrap_or_default(),
        };
        InvocationState::new(
            Arc::new(config),
            self.secrets.clone(),
            self.outgoing.clone(),
        )
    }
}

/// The export functions in `signatures` that can be served over wRPC (`exported`: the
/// resource types the component exports); the others are logged and skipped.
fn exports(
    signatures: &lattice_runtime::ComponentSignatures,
    exported: &[types::ResourceType],
) -> Vec<Export> {
    let mut out = Vec::new();
    for item in signatures.export_funcs() {
        // Served as `wrpc:http/incoming-handler` (see `serve_http`).
        if item
            .instance
            .as_deref()
            .is_some_and(|i| i.starts_with("wasi:http/incoming-handler@"))
        {
            continue;
        }
        let typed =
            |types: Vec<types::Type>| -> Result<Vec<(Type, types::Type)>, super::glue::GlueError> {
                types.into_iter().map(|t| Ok((wrpc_type(&t)?, t))).collect()
            };
        let params = item
            .params()
            .unwrap_or_default()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let results = item.results().unwrap_or_default();
        // A watcher's bucket goes by its name, as `wrpc:keyvalue/watcher` has it.
        let watcher = super::keyvalue::watcher_served_as(item.instance.as_deref());
        match (typed(params), typed(results)) {
            (Ok(mut params), Ok(results)) => {
                if let (Some(_), Some(bucket)) = (watcher, params.first_mut()) {
                    bucket.0 = Type::String;
                }
                out.push(Export {
                    instance: item.instance.clone(),
                    func: item.name.clone(),
                    resident: params
                        .iter()
                        .chain(&results)
                        .any(|(_, t)| resources::mentions(t, exported)),
                    wire_instance: watcher.map(str::to_string),
                    params,
                    results,
                })
            }
            (Err(error), _) | (_, Err(error)) => tracing::warn!(
                instance = item.instance.as_deref().unwrap_or(""),
                func = %item.name,
                %error,
                "export not served over wRPC"
            ),
        }
    }
    out
}

/// The serving side of one component: its subscriptions, and the invocations in flight.
pub(crate) struct Server {
    id: String,
    current: watch::Sender<Arc<Serving>>,
    subscriptions: CancellationToken,
    invocations: TaskTracker,
    local: super::LocalComponents,
}

impl Server {
    /// Subscribes every export of `serving`; returns once the server knows of them.
    pub(crate) async fn start(env: &ComponentEnv, serving: Serving) -> Result<Self, ScaleError> {
        let id = serving.spec.id.clone();
        let prefix = SubjectPrefix::target(&env.lattice_name, &id);
        let mut served: Vec<(InvocationSubject, Served)> = serving
            .exports
            .iter()
            .map(|export| {
                let (instance, func) = export.served_as();
                let subject = InvocationSubject::new(prefix.clone(), instance, func);
                (subject, Served::Func(Arc::clone(export)))
            })
            .collect();
        if serving.prepared.handles_http() {
            let subject = InvocationSubject::new(prefix.clone(), INCOMING_HANDLER, HANDLE);
            served.push((subject, Served::Http));
        }
        let (current, _) = watch::channel(Arc::new(serving));
        let subscriptions = CancellationToken::new();
        let invocations = TaskTracker::new();
        for (subject, what) in served {
            let mut incoming = env
                .wrpc
                .serve(&subject)
                .await
                .map_err(|e| ScaleError::Serve(e.to_string()))?;
            let current = current.subscribe();
            let token = subscriptions.clone();
            let tracker = invocations.clone();
            tokio::spawn(async move {
                loop {
                    let invocation = tokio::select! {
                        _ = token.cancelled() => return,
                        next = incoming.next() => match next {
                            Some(Ok(invocation)) => invocation,
                            Some(Err(error)) => {
                                tracing::warn!(%error, "cannot accept an invocation");
                                continue;
                            }
                            None => return,
                        },
                    };
                    let serving = current.borrow().clone();
                    // The caller's trace continues here (parent set before the span is entered).
                    let func = match &what {
                        Served::Func(export) => export.func.as_str(),
                        Served::Http => HANDLE,
                    };
                    let span = tracing::info_span!("invocation", component_id = %serving.spec.id, func = %func);
                    lattice_telemetry::propagation::set_parent(
                        &span,
                        Some(invocation.headers().as_map()),
                    );
                    match &what {
                        Served::Func(export) => tracker.spawn(
                            super::serve_export::invoke(serving, Arc::clone(export), invocation)
                                .instrument(span),
                        ),
                        Served::Http => tracker.spawn(
                            super::serve_http::invoke_http(serving, invocation).instrument(span),
                        ),
                    };
                }
            });
        }
        env.local.insert(
            &id,
            super::LocalComponent::new(current.subscribe(), invocations.clone()),
        );
        Ok(Server {
            id,
            current,
            subscriptions,
            invocations,
            local: env.local.clone(),
        })
    }

    /// New invocations go to `serving`; those in flight finish on what they started on.
    pub(crate) fn swap(&self, serving: Serving) -> Arc<Serving> {
        self.current.send_replace(Arc::new(serving))
    }

    /// What serves now.
    pub(crate) fn current(&self) -> Arc<Serving> {
        self.current.borrow().clone()
    }

    /// Stops taking invocations, then waits up to `deadline` for those in flight.
    pub(crate) async fn stop(self, deadline: Duration) -> bool {
        self.local.remove(&self.id);
        self.subscriptions.cancel();
        self.invocations.close();
        tokio::time::timeout(deadline, self.invocations.wait())
            .await
            .is_ok()
    }
}

/// The component as a policy request names it.
pub(super) fn policy_component(
    spec: &ComponentSpec,
    claims: Option<&ComponentClaims>,
) -> lattice_proto::policy::PolicyComponent {
    lattice_proto::policy::PolicyComponent {
        component_id: spec.id.clone(),
        image_ref: spec.reference.clone(),
        max_instances: spec.count,
        annotations: spec.annotations.clone(),
        claims: claims
            .map(|c| crate::policy::claims(&c.subject, &c.issuer, Some(c.issued_at), c.expires)),
    }
}

/// The exported functions of what serves now, typed for clients.
pub(crate) fn describe(id: &str, serving: &Serving) -> lattice_proto::wit::ComponentExports {
    use lattice_proto::wit::{ExportedFunction, WitField, WitType};
    let exports = serving
        .prepared
        .signatures()
        .export_funcs()
        .map(|item| {
            // A watcher as callers reach it (see `exports`): its bucket by name.
            let watcher = super::keyvalue::watcher_served_as(item.instance.as_deref());
            ExportedFunction {
                instance: watcher
                    .map(str::to_string)
                    .or_else(|| item.instance.clone()),
                name: item.name.clone(),
                params: item
                    .params()
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, ty))| WitField {
                        name,
                        ty: match watcher.is_some() && i == 0 {
                            true => WitType::String,
                            false => super::glue::wit_type(&ty),
                        },
                    })
                    .collect(),
                results: item
                    .results()
                    .unwrap_or_default()
                    .iter()
                    .map(super::glue::wit_type)
                    .collect(),
            }
        })
        .collect();
    lattice_proto::wit::ComponentExports {
        component_id: id.to_string(),
        config: serving.spec.config.clone(),
        exports,
    }
}
