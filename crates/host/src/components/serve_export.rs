//! One invocation of an exported function over wRPC: the policy asked (with a policy
//! topic), the parameters read and lifted into a store, the call (on a fresh instance,
//! or on the resident instance when a resource the component exports is involved), the
//! results lowered and sent. The accept goes out with the results unless the call takes
//! longer than [`ACCEPT_WITHIN`]. A call that a component of this host makes in-process
//! ([`call_local`], see [`super::local`]) takes the same path without the wire.

use std::sync::Arc;
use std::time::Duration;

use lattice_runtime::Invocation;
use lattice_runtime::wasmtime::AsContextMut as _;
use lattice_runtime::wasmtime::component::types;
use lattice_wrpc::value::{Type, Value};
use lattice_wrpc::{IncomingInvocation, InvocationHeaders};

use super::InvocationState;
use super::glue::{to_val, to_value};
use super::resources::{self, StoreHandles};
use super::runner::{Export, Serving, policy_component};

/// How long an invocation may take before its accept goes out on its own. A quicker
/// one sends its accept with its results and close (one write, one wake-up for the
/// caller); callers wait seconds for an accept.
const ACCEPT_WITHIN: Duration = Duration::from_millis(2);

/// How an invocation ended.
enum Answer {
    /// Its results.
    Results(Vec<Value>),
    /// It failed: the results channel closes saying why.
    Failed(String),
    /// Nothing to send (the parameters never came whole).
    Nothing,
}

/// Runs one invocation: the policy asked (with a policy topic), decode, a fresh
/// instance, call, encode; the accept goes out with the answer unless that takes
/// longer than [`ACCEPT_WITHIN`].
pub(super) async fn invoke(
    serving: Arc<Serving>,
    export: Arc<Export>,
    mut invocation: IncomingInvocation,
) {
    let acceptor = invocation.acceptor();
    let answer = {
        let answer = answer(&serving, &export, &mut invocation);
        tokio::pin!(answer);
        tokio::select! {
            biased;
            answer = &mut answer => answer,
            _ = tokio::time::sleep(ACCEPT_WITHIN) => {
                if let Err(error) = acceptor.accept().await {
                    tracing::debug!(%error, "cannot accept an invocation");
                }
                answer.await
            }
        }
    };
    let result_types: Vec<Type> = export.results.iter().map(|(w, _)| w.clone()).collect();
    let sent = match answer {
        Answer::Results(values) => invocation.write_results(&values, &result_types).await,
        // Closing the results channel without a value tells the caller it failed (and
        // lattice's clients why).
        Answer::Failed(reason) => invocation.results().fail(&reason).await,
        Answer::Nothing => Ok(()),
    };
    if let Err(error) = sent {
        tracing::warn!(%error, "cannot send the results");
    }
}

/// Runs one invocation that a component of this host makes in-process (see
/// [`super::local`]): as one over wRPC, from the policy to the results, with the
/// parameters as the caller has them and its `headers` (the trace).
pub(super) async fn call_local(
    serving: Arc<Serving>,
    export: Arc<Export>,
    params: Vec<Value>,
    headers: InvocationHeaders,
) -> Result<Vec<Value>, String> {
    permitted(&serving, &export).await?;
    call(&serving, &export, params, &headers).await
}

/// Asks the policy (when one is set) whether `export` of `serving` may be invoked.
async fn permitted(serving: &Serving, export: &Export) -> Result<(), String> {
    if !serving.policy.enabled() {
        return Ok(());
    }
    serving
        .policy
        .invocation(
            policy_component(&serving.spec, serving.claims.as_deref()),
            export.instance.as_deref().unwrap_or_default(),
            &export.func,
        )
        .await
        .map_err(|denied| {
            tracing::info!(%denied, "invocation refused");
            denied.to_string()
        })
}

async fn answer(serving: &Serving, export: &Export, invocation: &mut IncomingInvocation) -> Answer {
    if let Err(denied) = permitted(serving, export).await {
        return Answer::Failed(denied);
    }
    let param_types: Vec<Type> = export.params.iter().map(|(w, _)| w.clone()).collect();
    let params = match invocation.read_params_deferred(&param_types).await {
        Ok(params) => params,
        Err(error) => {
            tracing::warn!(%error, "cannot read the invocation's parameters");
            return Answer::Nothing;
        }
    };
    match call(serving, export, params, invocation.headers()).await {
        Ok(values) => Answer::Results(values),
        Err(failure) => Answer::Failed(failure),
    }
}

/// Why a call on an instance failed.
enum CallFailure {
    /// The parameters do not fit the export (a resource handle that names nothing, say).
    Params(String),
    /// The call itself (a trap, a deadline): the instance cannot run again.
    Call(String),
    /// The results do not fit the export's type.
    Results(String),
}

impl CallFailure {
    fn into_message(self) -> String {
        match self {
            CallFailure::Params(m) | CallFailure::Call(m) | CallFailure::Results(m) => m,
        }
    }
}

/// Calls `export` with the store data of this invocation (its trace from the caller's
/// `headers`): on the resident instance when a resource it exports is involved, else on
/// a fresh one. A failure is logged.
async fn call(
    serving: &Serving,
    export: &Export,
    params: Vec<Value>,
    headers: &InvocationHeaders,
) -> Result<Vec<Value>, String> {
    let mut state = serving.invocation_state().await;
    state.set_trace(super::trace_context(|name| {
        headers.get(name).map(str::to_string)
    }));
    let called = match export.resident {
        false => call_fresh(serving, export, params, state).await,
        true => call_resident(serving, export, params, state).await,
    };
    if let Err(failure) = &called {
        tracing::warn!(error = %failure, "invocation failed");
    }
    called
}

/// Calls `export` in a fresh instance.
async fn call_fresh(
    serving: &Serving,
    export: &Export,
    params: Vec<Value>,
    state: InvocationState,
) -> Result<Vec<Value>, String> {
    let mut instance = serving
        .prepared
        .instantiate(state)
        .await
        .map_err(|e| format!("{e:#}"))?;
    call_on(&mut instance, &serving.exported, export, params)
        .await
        .map_err(CallFailure::into_message)
}

/// Calls `export` on the resident instance, made first if there is none. One whose call
/// failed is given up (a trapped instance cannot run again), with the resources it held.
async fn call_resident(
    serving: &Serving,
    export: &Export,
    params: Vec<Value>,
    state: InvocationState,
) -> Result<Vec<Value>, String> {
    let mut resident = serving.resident.lock().await;
    let _slot = serving
        .prepared
        .slot()
        .await
        .map_err(|e| format!("{e:#}"))?;
    let instance = match &mut *resident {
        Some(instance) => {
            instance.store().data_mut().data_mut().refresh(state);
            instance
        }
        empty => empty.insert(
            serving
                .prepared
                .instantiate_resident(state)
                .await
                .map_err(|e| format!("{e:#}"))?,
        ),
    };
    instance.renew_deadline();
    let called = call_on(instance, &serving.exported, export, params).await;
    if let Err(CallFailure::Call(_)) = &called {
        let held = instance.store().data().data().held.len();
        tracing::warn!(
            held,
            "the resident instance failed: it is given up with the resources it held"
        );
        *resident = None;
        return called.map_err(CallFailure::into_message);
    }
    // Resources pushed out of the held table are dropped in the guest.
    let evicted = instance.store().data_mut().data_mut().held.take_evicted();
    if !evicted.is_empty() {
        tracing::warn!(
            dropped = evicted.len(),
            max = resources::MAX_HELD,
            "callers hold too many resources of this component: the oldest are dropped"
        );
    }
    for resource in evicted {
        if let Err(error) = resource.resource_drop_async(instance.store()).await {
            tracing::warn!(error = %format!("{error:#}"), "cannot drop a resource");
        }
    }
    called.map_err(CallFailure::into_message)
}

/// Lifts `params` into `instance`'s store, calls `export`, lowers its results.
async fn call_on(
    instance: &mut Invocation<InvocationState>,
    exported: &[types::ResourceType],
    export: &Export,
    params: Vec<Value>,
) -> Result<Vec<Value>, CallFailure> {
    let mut handles = StoreHandles {
        store: instance.store().as_context_mut(),
        exported,
    };
    let mut params = params.into_iter();
    let mut vals = Vec::with_capacity(export.params.len());
    let mut types = export.params.iter();
    if export.bucket_first() {
        // A watcher's bucket, named by the caller: a handle on that name in this store.
        let (Some(Value::String(name)), Some(_)) = (params.next(), types.next()) else {
            return Err(CallFailure::Params(format!(
                "{} takes a bucket name first",
                export.func
            )));
        };
        let bucket = super::keyvalue::bucket_for(handles.store.as_context_mut(), name)
            .map_err(|e| CallFailure::Params(format!("{e:#}")))?;
        vals.push(lattice_runtime::wasmtime::component::Val::Resource(bucket));
    }
    for (value, (_, ty)) in params.zip(types) {
        let val = to_val(value, ty, &mut handles).map_err(|error| {
            CallFailure::Params(format!("parameters do not fit {}: {error}", export.func))
        })?;
        vals.push(val);
    }
    let returned = instance
        .call(export.instance.as_deref(), &export.func, &vals)
        .await
        .map_err(|e| CallFailure::Call(format!("{e:#}")))?;
    let mut handles = StoreHandles {
        store: instance.store().as_context_mut(),
        exported,
    };
    returned
        .iter()
        .zip(&export.results)
        .map(|(v, (_, t))| to_value(v, t, &mut handles))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            CallFailure::Results(format!("results do not fit {}: {error}", export.func))
        })
}
