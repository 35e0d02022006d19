//! Between wasmtime's component values and wRPC's: a component's function types become
//! wRPC [`Type`]s, and values cross in both directions. Plain data (every scalar,
//! string, list, record, tuple, variant, enum, option, result, flags) crosses, and so do
//! resource handles, through the store's [`Handles`] (opaque bytes on the wire, as in
//! wRPC); futures and streams are refused with an error that names them.

use bytes::Bytes;
use lattice_runtime::wasmtime::component::types;
use lattice_runtime::wasmtime::component::{ResourceAny, Val};
use lattice_wrpc::value::{Type, Value};

/// Where resource handles cross: on the wire a handle is opaque bytes, in a store it is
/// a resource (see `super::resources`).
pub(crate) trait Handles {
    /// The wire handle of `resource`, typed `ty` in the signature; an `own` one is
    /// given up.
    fn lower(
        &mut self,
        resource: ResourceAny,
        ty: &types::ResourceType,
    ) -> Result<Bytes, GlueError>;
    /// The resource the wire handle `handle` (typed `ty`, `own` or borrowed) stands for.
    fn lift(
        &mut self,
        handle: Bytes,
        ty: &types::ResourceType,
        own: bool,
    ) -> Result<ResourceAny, GlueError>;
}

/// Where no store is at hand: resources are refused.
pub(crate) struct NoHandles;

impl Handles for NoHandles {
    fn lower(&mut self, _: ResourceAny, _: &types::ResourceType) -> Result<Bytes, GlueError> {
        Err(GlueError::Unsupported("resource"))
    }

    fn lift(
        &mut self,
        _: Bytes,
        _: &types::ResourceType,
        _: bool,
    ) -> Result<ResourceAny, GlueError> {
        Err(GlueError::Unsupported("resource"))
    }
}

/// A type or value that cannot cross between a component and wRPC.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GlueError {
    #[error("{0} values cannot cross wRPC from a component yet")]
    Unsupported(&'static str),
    #[error("a {expected} was expected, got {got}")]
    Mismatch { expected: String, got: String },
    #[error("no case `{0}` in the type")]
    UnknownCase(String),
    #[error("case index {0} is out of range")]
    CaseIndex(u32),
    #[error("resource handle: {0}")]
    Handle(String),
}

/// The wRPC type of a component type.
/// The wRPC types of `tys`.
pub(crate) fn wrpc_types(tys: &[types::Type]) -> Result<Vec<Type>, GlueError> {
    tys.iter().map(wrpc_type).collect()
}

/// `vals` (typed `tys`) as wRPC values, with their wRPC types.
pub(crate) fn wrpc_values(
    vals: &[Val],
    tys: &[types::Type],
    handles: &mut dyn Handles,
) -> Result<(Vec<Value>, Vec<Type>), GlueError> {
    vals.iter()
        .zip(tys)
        .map(|(val, ty)| Ok((to_value(val, ty, handles)?, wrpc_type(ty)?)))
        .collect()
}

pub(crate) fn wrpc_type(ty: &types::Type) -> Result<Type, GlueError> {
    use types::Type as T;
    Ok(match ty {
        T::Bool => Type::Bool,
        T::S8 => Type::S8,
        T::U8 => Type::U8,
        T::S16 => Type::S16,
        T::U16 => Type::U16,
        T::S32 => Type::S32,
        T::U32 => Type::U32,
        T::S64 => Type::S64,
        T::U64 => Type::U64,
        T::Float32 => Type::F32,
        T::Float64 => Type::F64,
        T::Char => Type::Char,
        T::String => Type::String,
        T::List(list) => Type::list(wrpc_type(&list.ty())?),
        T::Record(record) => Type::record(
            record
                .fields()
                .map(|f| Ok((f.name.to_string(), wrpc_type(&f.ty)?)))
                .collect::<Result<Vec<_>, GlueError>>()?,
        ),
        T::Tuple(tuple) => Type::Tuple(
            tuple
                .types()
                .map(|t| wrpc_type(&t))
                .collect::<Result<_, _>>()?,
        ),
        T::Variant(variant) => Type::variant(
            variant
                .cases()
                .map(|c| {
                    Ok((
                        c.name.to_string(),
                        c.ty.as_ref().map(wrpc_type).transpose()?,
                    ))
                })
                .collect::<Result<Vec<_>, GlueError>>()?,
        ),
        T::Enum(e) => Type::Enum(e.names().map(str::to_string).collect()),
        T::Option(option) => Type::option(wrpc_type(&option.ty())?),
        T::Result(result) => Type::result(
            result.ok().as_ref().map(wrpc_type).transpose()?,
            result.err().as_ref().map(wrpc_type).transpose()?,
        ),
        T::Flags(flags) => Type::Flags(flags.names().map(str::to_string).collect()),
        T::Map(_) => return Err(GlueError::Unsupported("map")),
        // Handles are opaque bytes; the name is not on the wire.
        T::Own(_) => Type::Own(String::new()),
        T::Borrow(_) => Type::Borrow(String::new()),
        T::Future(_) => return Err(GlueError::Unsupported("future")),
        T::Stream(_) => return Err(GlueError::Unsupported("stream")),
        T::ErrorContext => return Err(GlueError::Unsupported("error-context")),
        T::FixedLengthList(_) => return Err(GlueError::Unsupported("fixed-length list")),
    })
}

fn mismatch(expected: &types::Type, got: &Value) -> GlueError {
    GlueError::Mismatch {
        expected: format!("{expected:?}"),
        got: format!("{got:?}"),
    }
}

/// A wRPC value (decoded with [`wrpc_type`] of `ty`) as a component value of `ty`.
pub(crate) fn to_val(
    value: Value,
    ty: &types::Type,
    handles: &mut dyn Handles,
) -> Result<Val, GlueError> {
    use types::Type as T;
    Ok(match (ty, value) {
        (T::Bool, Value::Bool(v)) => Val::Bool(v),
        (T::S8, Value::S8(v)) => Val::S8(v),
        (T::U8, Value::U8(v)) => Val::U8(v),
        (T::S16, Value::S16(v)) => Val::S16(v),
        (T::U16, Value::U16(v)) => Val::U16(v),
        (T::S32, Value::S32(v)) => Val::S32(v),
        (T::U32, Value::U32(v)) => Val::U32(v),
        (T::S64, Value::S64(v)) => Val::S64(v),
        (T::U64, Value::U64(v)) => Val::U64(v),
        (T::Float32, Value::F32(v)) => Val::Float32(v),
        (T::Float64, Value::F64(v)) => Val::Float64(v),
        (T::Char, Value::Char(v)) => Val::Char(v),
        (T::String, Value::String(v)) => Val::String(v),
        (T::List(_), Value::Bytes(bytes)) => Val::List(bytes.iter().map(|b| Val::U8(*b)).collect()),
        (T::List(list), Value::List(items)) => {
            let element = list.ty();
            Val::List(
                items
                    .into_iter()
                    .map(|v| to_val(v, &element, handles))
                    .collect::<Result<_, _>>()?,
            )
        }
        (T::Record(record), Value::Record(values)) => Val::Record(
            record
                .fields()
                .zip(values)
                .map(|(f, v)| Ok((f.name.to_string(), to_val(v, &f.ty, handles)?)))
                .collect::<Result<_, GlueError>>()?,
        ),
        (T::Tuple(tuple), Value::Tuple(values)) => Val::Tuple(
            tuple
                .types()
                .zip(values)
                .map(|(t, v)| to_val(v, &t, handles))
                .collect::<Result<_, _>>()?,
        ),
        (T::Variant(variant), Value::Variant { case, payload }) => {
            let c = variant
                .cases()
                .nth(case as usize)
                .ok_or(GlueError::CaseIndex(case))?;
            let payload = match (c.ty, payload) {
                (Some(t), Some(v)) => Some(Box::new(to_val(*v, &t, handles)?)),
                _ => None,
            };
            Val::Variant(c.name.to_string(), payload)
        }
        (T::Enum(e), Value::Enum(case)) => Val::Enum(
            e.names()
                .nth(case as usize)
                .ok_or(GlueError::CaseIndex(case))?
                .to_string(),
        ),
        (T::Option(option), Value::Option(v)) => Val::Option(
            v.map(|v| to_val(*v, &option.ty(), handles).map(Box::new))
                .transpose()?,
        ),
        (T::Result(result), Value::Result(r)) => {
            let mut side =
                |v: Option<Box<Value>>, t: Option<types::Type>| -> Result<_, GlueError> {
                    match (v, t) {
                        (Some(v), Some(t)) => Ok(Some(Box::new(to_val(*v, &t, handles)?))),
                        _ => Ok(None),
                    }
                };
            Val::Result(match r {
                Ok(v) => Ok(side(v, result.ok())?),
                Err(v) => Err(side(v, result.err())?),
            })
        }
        (T::Flags(flags), Value::Flags(set)) => Val::Flags(
            flags
                .names()
                .zip(set)
                .filter(|(_, on)| *on)
                .map(|(n, _)| n.to_string())
                .collect(),
        ),
        (T::Own(resource), Value::Own(handle)) => {
            Val::Resource(handles.lift(handle, resource, true)?)
        }
        (T::Borrow(resource), Value::Borrow(handle)) => {
            Val::Resource(handles.lift(handle, resource, false)?)
        }
        (ty, value) => return Err(mismatch(ty, &value)),
    })
}

/// A component value of `ty` as a wRPC value.
pub(crate) fn to_value(
    val: &Val,
    ty: &types::Type,
    handles: &mut dyn Handles,
) -> Result<Value, GlueError> {
    use types::Type as T;
    let wrong = || GlueError::Mismatch {
        expected: format!("{ty:?}"),
        got: format!("{val:?}"),
    };
    Ok(match (ty, val) {
        (T::Bool, Val::Bool(v)) => Value::Bool(*v),
        (T::S8, Val::S8(v)) => Value::S8(*v),
        (T::U8, Val::U8(v)) => Value::U8(*v),
        (T::S16, Val::S16(v)) => Value::S16(*v),
        (T::U16, Val::U16(v)) => Value::U16(*v),
        (T::S32, Val::S32(v)) => Value::S32(*v),
        (T::U32, Val::U32(v)) => Value::U32(*v),
        (T::S64, Val::S64(v)) => Value::S64(*v),
        (T::U64, Val::U64(v)) => Value::U64(*v),
        (T::Float32, Val::Float32(v)) => Value::F32(*v),
        (T::Float64, Val::Float64(v)) => Value::F64(*v),
        (T::Char, Val::Char(v)) => Value::Char(*v),
        (T::String, Val::String(v)) => Value::String(v.clone()),
        (T::List(list), Val::List(items)) => {
            let element = list.ty();
            Value::List(
                items
                    .iter()
                    .map(|v| to_value(v, &element, handles))
                    .collect::<Result<_, _>>()?,
            )
        }
        (T::Record(record), Val::Record(fields)) => Value::Record(
            record
                .fields()
                .zip(fields)
                .map(|(f, (_, v))| to_value(v, &f.ty, handles))
                .collect::<Result<_, _>>()?,
        ),
        (T::Tuple(tuple), Val::Tuple(values)) => Value::Tuple(
            tuple
                .types()
                .zip(values)
                .map(|(t, v)| to_value(v, &t, handles))
                .collect::<Result<_, _>>()?,
        ),
        (T::Variant(variant), Val::Variant(name, payload)) => {
            let (index, case) = variant
                .cases()
                .enumerate()
                .find(|(_, c)| c.name == name)
                .ok_or_else(|| GlueError::UnknownCase(name.clone()))?;
            let payload = match (case.ty, payload) {
                (Some(t), Some(v)) => Some(Box::new(to_value(v, &t, handles)?)),
                _ => None,
            };
            Value::Variant {
                case: index as u32,
                payload,
            }
        }
        (T::Enum(e), Val::Enum(name)) => Value::Enum(
            e.names()
                .position(|n| n == name)
                .ok_or_else(|| GlueError::UnknownCase(name.clone()))? as u32,
        ),
        (T::Option(option), Val::Option(v)) => Value::Option(
            v.as_ref()
                .map(|v| to_value(v, &option.ty(), handles).map(Box::new))
                .transpose()?,
        ),
        (T::Result(result), Val::Result(r)) => {
            let mut side = |v: &Option<Box<Val>>, t: Option<types::Type>| -> Result<_, GlueError> {
                match (v, t) {
                    (Some(v), Some(t)) => Ok(Some(Box::new(to_value(v, &t, handles)?))),
                    _ => Ok(None),
                }
            };
            Value::Result(match r {
                Ok(v) => Ok(side(v, result.ok())?),
                Err(v) => Err(side(v, result.err())?),
            })
        }
        (T::Flags(flags), Val::Flags(set)) => {
            Value::Flags(flags.names().map(|n| set.iter().any(|s| s == n)).collect())
        }
        (T::Own(resource), Val::Resource(any)) => Value::Own(handles.lower(*any, resource)?),
        (T::Borrow(resource), Val::Resource(any)) => Value::Borrow(handles.lower(*any, resource)?),
        (T::Future(_), _) => return Err(GlueError::Unsupported("future")),
        (T::Stream(_), _) => return Err(GlueError::Unsupported("stream")),
        _ => return Err(wrong()),
    })
}

/// A component type as clients see it (`component.describe`).
pub(crate) fn wit_type(ty: &types::Type) -> lattice_proto::wit::WitType {
    use lattice_proto::wit::{WitCase, WitField, WitType as W};
    use types::Type as T;
    let unsupported = |name: &str| W::Unsupported {
        name: name.to_string(),
    };
    match ty {
        T::Bool => W::Bool,
        T::S8 => W::S8,
        T::U8 => W::U8,
        T::S16 => W::S16,
        T::U16 => W::U16,
        T::S32 => W::S32,
        T::U32 => W::U32,
        T::S64 => W::S64,
        T::U64 => W::U64,
        T::Float32 => W::F32,
        T::Float64 => W::F64,
        T::Char => W::Char,
        T::String => W::String,
        T::List(list) => W::List {
            element: Box::new(wit_type(&list.ty())),
        },
        T::Record(record) => W::Record {
            fields: record
                .fields()
                .map(|f| WitField {
                    name: f.name.to_string(),
                    ty: wit_type(&f.ty),
                })
                .collect(),
        },
        T::Tuple(tuple) => W::Tuple {
            types: tuple.types().map(|t| wit_type(&t)).collect(),
        },
        T::Variant(variant) => W::Variant {
            cases: variant
                .cases()
                .map(|c| WitCase {
                    name: c.name.to_string(),
                    ty: c.ty.as_ref().map(wit_type),
                })
                .collect(),
        },
        T::Enum(e) => W::Enum {
            cases: e.names().map(str::to_string).collect(),
        },
        T::Option(option) => W::Option {
            some: Box::new(wit_type(&option.ty())),
        },
        T::Result(result) => W::Result {
            ok: result.ok().as_ref().map(|t| Box::new(wit_type(t))),
            err: result.err().as_ref().map(|t| Box::new(wit_type(t))),
        },
        T::Flags(flags) => W::Flags {
            flags: flags.names().map(str::to_string).collect(),
        },
        T::Map(_) => unsupported("map"),
        T::Own(_) => W::Own,
        T::Borrow(_) => W::Borrow,
        T::Future(_) => unsupported("future"),
        T::Stream(_) => unsupported("stream"),
        T::ErrorContext => unsupported("error-context"),
        T::FixedLengthList(_) => unsupported("fixed-length list"),
    }
}
